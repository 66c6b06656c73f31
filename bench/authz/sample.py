#!/usr/bin/env python3
"""bench/authz/sample.py - samples authz's /metrics every 0.5 s until it has read TARGET
change events (modelcast_authz_changes_in_total) or TIMEOUT passes; prints one JSON summary.

  sample.py URL TARGET TIMEOUT CSV [name=pid ...]

TARGET counts from the process's start (its counters start at 0). Gives up early when the
counter has not moved for STALL_S seconds after it first moved.

Summary: steady-state changes/s and deliveries/s (between 10 % and 90 % of the events read in
this window), the lag gauge (mean, p50, max), CPU seconds each pid used in the window (from
/proc/PID/stat), and whether TARGET was reached.
"""
import json
import os
import sys
import time
import urllib.request

INTERVAL = 0.5
STALL_S = 15
TICK = os.sysconf("SC_CLK_TCK")


def metrics(url):
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def main():
    url, target, timeout, csv = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    pids = dict(a.split("=", 1) for a in sys.argv[5:])
    samples = []  # (t, in, out, lag, {name: cpu})
    t0 = time.monotonic()
    reached = False
    last_move, last_in = None, None
    with open(csv, "w") as f:
        f.write("t,changes_in,deliveries_out,lag," + ",".join(f"cpu_{n}" for n in pids) + "\n")
        for _ in range(int(timeout / INTERVAL) + 2):
            m = metrics(url)
            t = time.monotonic() - t0
            if m is not None:
                cpus = {n: cpu_s(p) for n, p in pids.items()}
                s = (t, m.get("modelcast_authz_changes_in_total", 0.0),
                     m.get("modelcast_authz_deliveries_out_total", 0.0),
                     m.get("modelcast_authz_lag", 0.0), cpus)
                samples.append(s)
                f.write(f"{t:.2f},{s[1]:.0f},{s[2]:.0f},{s[3]:.0f},"
                        + ",".join(f"{c}" for c in cpus.values()) + "\n")
                if s[1] >= target:
                    reached = True
                    break
                if s[1] != last_in:
                    last_in, last_move = s[1], t
                elif last_move is not None and s[1] > 0 and t - last_move > STALL_S:
                    break
            if t > timeout:
                break
            time.sleep(max(0.0, INTERVAL - (time.monotonic() - t0 - t)))
    res = {"reached": reached, "samples": len(samples),
           "last_in": samples[-1][1] if samples else 0}
    if len(samples) >= 2:
        base = 0.0
        total = samples[-1][1] - base

        def first_at(frac):
            return next(s for s in samples if s[1] - base >= frac * total)
        res["read"] = total
        if total > 0:
            a, b = first_at(0.1), first_at(0.9)
            if b[0] > a[0]:
                res["changes_per_s"] = (b[1] - a[1]) / (b[0] - a[0])
                res["deliveries_per_s"] = (b[2] - a[2]) / (b[0] - a[0])
                res["cpu_cores"] = {n: round((b[4][n] - a[4][n]) / (b[0] - a[0]), 2)
                                    for n in pids if a[4][n] is not None and b[4][n] is not None}
            start = next(s for s in samples if s[1] > base)
            res["first_read_at"] = start[0]
            res["seconds"] = samples[-1][0] - start[0]
            res["deliveries_per_change"] = samples[-1][2] / samples[-1][1]
        lags = sorted(s[3] for s in samples)
        res["lag_mean"] = sum(lags) / len(lags)
        res["lag_p50"] = lags[len(lags) // 2]
        res["lag_max"] = lags[-1]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
