#!/usr/bin/env bash
# Usage: tests/deploy/harness/docker.sh [--help] install|start|stop|status|env
#
# A private Docker engine for the deployment test (Debian's docker.io; there is no systemd).
#   install   apt-get the engine (docker.io, containerd, runc) if missing
#   start     start dockerd on its own socket $MC_DEPLOY_RUN/docker.sock, with its data
#             (images: the cache) in $MC_DEPLOY_CACHE/docker; idempotent
#   stop      stop that dockerd and everything it runs; removes its mounts and cgroups
#   status    exit 0 when it answers
#   env       print the DOCKER_HOST / DOCKER_CONFIG exports the other scripts use
# The daemon runs with --iptables=false --bridge=none: it writes no iptables rules, and
# compose's own bridge networks still connect the containers. Builds use host networking.
set -euo pipefail
# shellcheck source=tests/deploy/harness/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if h_help_requested "$@"; then
    h_usage "${BASH_SOURCE[0]}"
    exit 0
fi

RUN="$MC_DEPLOY_RUN/docker"
SOCK="$MC_DEPLOY_RUN/docker.sock"
DATA="$MC_DEPLOY_CACHE/docker"
export DOCKER_HOST="unix://$SOCK" DOCKER_CONFIG="$DOCKER_CONFIG_DIR"

d_install() {
    h_require_root
    h_apt docker.io containerd runc iptables
    mkdir -p "$DOCKER_CONFIG_DIR"
    [[ -f $DOCKER_CONFIG_DIR/config.json ]] || printf '{}\n' >"$DOCKER_CONFIG_DIR/config.json"
}

d_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

d_pid() { [[ -f $RUN/dockerd.pid ]] && cat "$RUN/dockerd.pid"; }

d_start() {
    h_require_root
    d_install
    if d_up; then
        h_log "dockerd already running ($SOCK)"
        return 0
    fi
    mkdir -p "$RUN" "$DATA"
    h_log "starting dockerd (log $RUN/dockerd.log)"
    # setsid: its own session, so a Ctrl-C of the calling script does not reach it.
    setsid dockerd --host "unix://$SOCK" --data-root "$DATA" --exec-root "$RUN/exec" \
        --pidfile "$RUN/dockerd.pid" --iptables=false --ip-masq=false --bridge=none \
        --storage-driver overlay2 --log-level warn \
        --containerd-namespace modelcast-deploy --containerd-plugins-namespace modelcast-deploy-plugins \
        >"$RUN/dockerd.log" 2>&1 </dev/null &
    H_WAIT=60 h_wait d_up || {
        tail -20 "$RUN/dockerd.log" >&2
        h_die "dockerd did not answer within 60s"
    }
    h_log "dockerd $(docker version --format '{{.Server.Version}}') up"
}

d_stop() {
    local pid
    pid=$(d_pid || true)
    if d_up; then
        # Containers first, so their processes and mounts go with their own shutdown.
        docker ps -q | xargs -r docker kill >/dev/null 2>&1 || true
    fi
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        h_log "stopping dockerd ($pid)"
        kill "$pid"
        local _
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    # dockerd's own containerd child, if it outlived it.
    local c
    while read -r c; do kill "$c" 2>/dev/null || true; done < <(pgrep -f "containerd --config $RUN/exec" || true)
    # Mounts it may leave: overlay layers and its exec root.
    local m
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v a="$DATA" -v b="$RUN" '$2 ~ "^"a || $2 ~ "^"b {print $2}' /proc/mounts | sort -r)
    # Container cgroups left behind (cgroup v1 or v2), named docker/<id> or docker.
    find /sys/fs/cgroup -depth -type d \( -path '*/docker/*' -o -name docker \) -exec rmdir {} \; 2>/dev/null || true
    rm -f "$SOCK" "$RUN/dockerd.pid"
}

case ${1:-} in
install) h_timed docker-install d_install ;;
start) d_start ;;
stop) d_stop ;;
status) d_up ;;
env) printf 'export DOCKER_HOST=%q DOCKER_CONFIG=%q\n' "$DOCKER_HOST" "$DOCKER_CONFIG" ;;
*) h_die "usage: $0 install|start|stop|status|env (see --help)" ;;
esac
