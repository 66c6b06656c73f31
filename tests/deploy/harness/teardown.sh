#!/usr/bin/env bash
# Usage: tests/deploy/harness/teardown.sh [--help]
#
# Stops everything the deployment test harness started and removes what it leaves behind:
# the Kubernetes node (kube.sh stop: pods, kubelet, containerd, control plane, etcd, dnsmasq,
# mounts, network namespaces, the bridge, iptables KUBE-* chains, kubepods cgroups), every
# container, network and volume of the private Docker engine, then that engine (docker.sh stop).
# Keeps the caches (built tools and images) in $MC_DEPLOY_CACHE. Idempotent; then checks that
# nothing is left and exits non-zero if something is.
set -euo pipefail
# shellcheck source=tests/deploy/harness/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if h_help_requested "$@"; then
    h_usage "${BASH_SOURCE[0]}"
    exit 0
fi
h_require_root

"$HARNESS_DIR/kube.sh" stop
eval "$("$HARNESS_DIR/docker.sh" env)"
if "$HARNESS_DIR/docker.sh" status; then
    # The engine is private to the harness: whatever runs in it is the tests'.
    docker ps -aq | xargs -r docker rm -f >/dev/null
    docker network prune -f >/dev/null
    docker volume prune -f >/dev/null
fi
"$HARNESS_DIR/docker.sh" stop

left=()
for pf in "$MC_DEPLOY_RUN"/docker/dockerd.pid "$MC_DEPLOY_RUN"/kube/*.pid; do
    [[ -f $pf ]] && kill -0 "$(cat "$pf")" 2>/dev/null && left+=("process $(cat "$pf") ($pf)")
done
for c in iptables ip6tables; do
    command -v "$c" >/dev/null || continue
    for t in filter nat mangle raw; do
        "$c" -t "$t" -S 2>/dev/null | grep -q 'KUBE-' && left+=("$c -t $t: KUBE-* rules")
    done
done
grep -qE " ($MC_DEPLOY_RUN|$MC_DEPLOY_CACHE)" /proc/mounts && left+=("mounts under $MC_DEPLOY_RUN or $MC_DEPLOY_CACHE")
# Any process still naming the harness's state or cache (engines, shims, kubelet, etcd, ...).
for p in $(pgrep -f -- "$MC_DEPLOY_RUN/|$MC_DEPLOY_CACHE/" || true); do
    [[ $p == "$$" ]] || left+=("process $p: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-120)")
done
ls /run/netns/cni-* >/dev/null 2>&1 && left+=("network namespaces /run/netns/cni-*")
ip link show mcdeploy0 >/dev/null 2>&1 && left+=("bridge mcdeploy0")
find /sys/fs/cgroup -type d -name 'kubepods*' 2>/dev/null | grep -q . && left+=("kubepods cgroups")
if ((${#left[@]})); then
    printf '[deploy] left behind: %s\n' "${left[@]}" >&2
    exit 1
fi
h_log "harness stopped; nothing left behind (caches kept in $MC_DEPLOY_CACHE)"
