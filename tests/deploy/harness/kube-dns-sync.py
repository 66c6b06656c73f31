#!/usr/bin/env python3
"""Cluster DNS of the test cluster (it has no kube-proxy or CoreDNS): keeps a hosts file that
dnsmasq answers from, with every Service name resolving to its ready endpoints' pod addresses,
as a headless Service would, and each named endpoint (StatefulSet pods) to its own address:
  <svc>.<ns>.svc.cluster.local            -> ready endpoint addresses
  <hostname>.<svc>.<ns>.svc.cluster.local -> that endpoint
Pods find short names through the search path the kubelet writes (<ns>.svc.cluster.local ...).
Polls the EndpointSlices every second and sends dnsmasq SIGHUP (re-read) on a change.

Usage: kube-dns-sync.py --hosts FILE --pidfile DNSMASQ_PID --kubectl KUBECTL
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def render(slices):
    names = {}
    for s in slices.get("items", []):
        meta = s.get("metadata", {})
        svc = meta.get("labels", {}).get("kubernetes.io/service-name")
        if not svc or s.get("addressType") != "IPv4":
            continue
        base = f"{svc}.{meta['namespace']}.svc.cluster.local"
        for ep in s.get("endpoints") or []:
            if ep.get("conditions", {}).get("ready") is False:
                continue
            for addr in ep.get("addresses", []):
                names.setdefault(base, set()).add(addr)
                if ep.get("hostname"):
                    names.setdefault(f"{ep['hostname']}.{base}", set()).add(addr)
    lines = [f"{addr} {name}" for name in sorted(names) for addr in sorted(names[name])]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--kubectl", required=True)
    a = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    last = None
    while not stop:
        r = subprocess.run([a.kubectl, "get", "endpointslices", "-A", "-o", "json"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            text = render(json.loads(r.stdout))
            if text != last:
                tmp = a.hosts + ".tmp"
                with open(tmp, "w") as f:
                    f.write(text)
                os.chmod(tmp, 0o644)
                os.replace(tmp, a.hosts)
                try:
                    with open(a.pidfile) as f:
                        os.kill(int(f.read().strip()), signal.SIGHUP)
                except (OSError, ValueError) as e:
                    print(f"dns-sync: cannot signal dnsmasq: {e}", file=sys.stderr, flush=True)
                    continue
                print(f"dns-sync: {text.count(chr(10))} names", flush=True)
                last = text
        time.sleep(1)


if __name__ == "__main__":
    main()
