# shellcheck shell=bash
# Shared settings and helpers for the local stack scripts (setup, up, down, status, run).
# Sourced, never run. Every setting comes from the environment, with the defaults below.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY_DIR="$REPO/deploy/local"

: "${MC_VAR:=$REPO/var}"
: "${MC_BUILD_DIR:=$REPO/build}"
: "${MC_PG_PORT:=55432}"
: "${MC_BROKER_PORT:=19092}"
: "${MC_BROKER_CONTROLLER_PORT:=19093}"
: "${MC_API_PORT:=8701}"
: "${MC_AUTHZ_PORT:=8702}"
: "${MC_PUSHER_PORT:=8703}"
# Pushers behind the edge: pusher on MC_PUSHER_PORT, pusher-2 on the next port, and so on.
: "${MC_PUSHERS:=1}"
# The edge (nginx): the examples, /v1 and /ws on one origin (deploy/edge/modelcast.conf).
: "${MC_EDGE_PORT:=8700}"
# 1: the edge also serves demo tokens at /dev/tokens.json (make run sets it; nothing else does).
: "${MC_DEV_TOKENS:=0}"
# A port: the edge also serves the examples on http://127.0.0.1:PORT, another origin, whose
# pages call the API across origins (?api=<edge origin>). Unset: no such server. With it, and
# unless set otherwise, model-api allows that origin (MC_CORS_ORIGINS) and so do the pushers
# (MC_WS_ORIGINS).
: "${MC_EDGE_XORIGIN_PORT:=}"
if [[ -n $MC_EDGE_XORIGIN_PORT ]]; then
    [[ $MC_EDGE_XORIGIN_PORT =~ ^[1-9][0-9]{0,4}$ ]] && ((MC_EDGE_XORIGIN_PORT <= 65535)) ||
        { printf 'modelcast: error: MC_EDGE_XORIGIN_PORT must be a port (got %s)\n' "$MC_EDGE_XORIGIN_PORT" >&2; exit 1; }
    : "${MC_CORS_ORIGINS=http://127.0.0.1:$MC_EDGE_XORIGIN_PORT}"
    : "${MC_WS_ORIGINS=http://127.0.0.1:$MC_EDGE_XORIGIN_PORT}"
    export MC_CORS_ORIGINS MC_WS_ORIGINS
fi
: "${MC_PARTITIONS:=4}"
: "${MC_MODELS:=$REPO/config/models.json}"
: "${MC_POLICIES:=$REPO/config/policies.json}"
: "${MC_LOG_LEVEL:=info}"
# HMAC secret the services verify tokens with. A development value for the local stack only:
# production sets its own (MC_JWT_KEY or MC_JWT_KEY_FILE, or an identity provider's
# MC_JWT_JWKS_URL, see docs/operations.md). Not defaulted when a JWKS is given.
if [[ -z ${MC_JWT_JWKS_URL:-} && -z ${MC_JWT_JWKS_FILE:-} && -z ${MC_JWT_KEY_FILE:-} ]]; then
    : "${MC_JWT_KEY:=modelcast-local-dev-secret}"
    export MC_JWT_KEY
fi
# Absolute paths: postgres tools run from / (see up), services from wherever.
MC_VAR=$(realpath -m "$MC_VAR")
MC_BUILD_DIR=$(realpath -m "$MC_BUILD_DIR")
MC_MODELS=$(realpath -m "$MC_MODELS")
MC_POLICIES=$(realpath -m "$MC_POLICIES")
export MC_VAR MC_BUILD_DIR MC_PG_PORT MC_BROKER_PORT MC_BROKER_CONTROLLER_PORT MC_API_PORT \
    MC_AUTHZ_PORT MC_PUSHER_PORT MC_PARTITIONS MC_MODELS MC_POLICIES MC_LOG_LEVEL \
    MC_PUSHERS MC_EDGE_PORT MC_DEV_TOKENS MC_EDGE_XORIGIN_PORT
[[ $MC_PUSHERS =~ ^[1-9][0-9]?$ ]] && ((MC_PUSHERS <= 16)) ||
    { printf 'modelcast: error: MC_PUSHERS must be 1 to 16 (got %s)\n' "$MC_PUSHERS" >&2; exit 1; }

# shellcheck disable=SC2034  # these are used by the scripts that source this file
PG_BIN=/usr/lib/postgresql/15/bin
KAFKA_LIBS="$DEPLOY_DIR/kafka-libs"
# Components in start order; down walks this list backwards. The pushers are pusher,
# pusher-2 ... pusher-$MC_PUSHERS, plus any further one still recorded as running (started
# with a larger MC_PUSHERS), so that down and status see it too.
mc__pushers() {
    local n=$MC_PUSHERS k f
    for f in "$MC_VAR"/run/pusher-*.pid; do
        [[ -e $f ]] || continue
        k=${f##*/pusher-}
        k=${k%.pid}
        [[ $k =~ ^[0-9]+$ ]] && ((k > n)) && n=$k
    done
    printf 'pusher\n'
    for ((k = 2; k <= n; k++)); do printf 'pusher-%d\n' "$k"; done
}
mapfile -t MC_PUSHER_NAMES < <(mc__pushers)
MC_COMPONENTS=(postgres kafka model-api authz "${MC_PUSHER_NAMES[@]}" edge)
# shellcheck disable=SC2034
MC_TOPICS=(modelcast.changes modelcast.deliveries modelcast.changes.dlq)

mc_log() { printf 'modelcast: %s\n' "$*"; }
mc_warn() { printf 'modelcast: %s\n' "$*" >&2; }
mc_die() {
    printf 'modelcast: error: %s\n' "$*" >&2
    exit 1
}

# True when -h or --help is among the arguments.
mc_help_requested() {
    local a
    for a in "$@"; do
        [[ $a == -h || $a == --help ]] && return 0
    done
    return 1
}

# Prints the leading comment block of script $1 (its usage text).
mc_usage() { sed -n '2,/^set -euo/p' "$1" | sed '$d' | sed 's/^# \{0,1\}//'; }

mc_dirs() { mkdir -p "$MC_VAR/run" "$MC_VAR/log"; }

mc_pidfile() { printf '%s/run/%s.pid' "$MC_VAR" "$1"; }
mc_logfile() { printf '%s/log/%s.log' "$MC_VAR" "$1"; }

# Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); it tells a
# recorded pid from a later process that reused the number.
# A zombie (state Z: exited, not yet reaped - where PID 1 does not reap orphans) counts as gone.
mc__starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }  # the command name may hold spaces; fields restart after ") "
    # shellcheck disable=SC2086
    set -- $stat
    [[ $1 == Z || $1 == X ]] && return 1
    printf '%s' "${20}"
}

# Records PID as the process of component NAME.
mc_pid_write() {
    local start
    start=$(mc__starttime "$2") || start=0
    printf '%s %s\n' "$2" "$start" >"$(mc_pidfile "$1")"
}

# Prints the live pid of component NAME; fails (and removes a stale pid file) when it is not running.
mc_pid_live() {
    local file pid start now
    file=$(mc_pidfile "$1")
    [[ -f $file ]] || return 1
    read -r pid start <"$file" || true
    if [[ -n ${pid:-} ]] && now=$(mc__starttime "$pid") && [[ ${start:-0} == 0 || $now == "$start" ]]; then
        printf '%s' "$pid"
        return 0
    fi
    rm -f "$file"
    return 1
}

mc_tail_log() {
    local log=$1
    if [[ -s $log ]]; then
        mc_warn "last lines of $log:"
        tail -n "${2:-40}" "$log" | sed 's/^/    /' >&2
    fi
}

# mc_wait_for NAME PID LOG SECONDS CMD...
# Polls CMD until it succeeds. Fails with the log's tail when PID dies or SECONDS pass.
mc_wait_for() {
    local name=$1 pid=$2 log=$3 secs=$4
    shift 4
    local deadline=$((SECONDS + secs))
    while ! "$@" >/dev/null 2>&1; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            mc_tail_log "$log"
            mc_die "$name exited before it was ready (see $log)"
        fi
        if ((SECONDS >= deadline)); then
            mc_tail_log "$log"
            mc_die "$name not ready after ${secs}s (see $log)"
        fi
        sleep 0.2
    done
}

# True while PID runs (a zombie counts as gone).
mc__running() { mc__starttime "$1" >/dev/null; }

# Stops PID with SIGTERM, then SIGKILL after SECONDS (default 10).
mc_stop_pid() {
    local pid=$1 secs=${2:-10} i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        mc__running "$pid" || return 0
        sleep 0.1
    done
    mc_warn "pid $pid still alive after ${secs}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        mc__running "$pid" || return 0
        sleep 0.1
    done
}

mc_port_of() {
    case $1 in
        postgres) printf '%s' "$MC_PG_PORT" ;;
        kafka) printf '%s' "$MC_BROKER_PORT" ;;
        model-api) printf '%s' "$MC_API_PORT" ;;
        authz) printf '%s' "$MC_AUTHZ_PORT" ;;
        pusher) printf '%s' "$MC_PUSHER_PORT" ;;
        pusher-[0-9]*)
            local k=${1#pusher-}
            [[ $k =~ ^[0-9]+$ ]] && ((k >= 2 && k <= 16)) || return 1
            printf '%s' $((MC_PUSHER_PORT + k - 1))
            ;;
        edge) printf '%s' "$MC_EDGE_PORT" ;;
        *) return 1 ;;
    esac
}

mc_binary_of() {
    case $1 in
        model-api) printf '%s' "$MC_BUILD_DIR/services/model-api/modelcast-model-api" ;;
        authz) printf '%s' "$MC_BUILD_DIR/services/authz/modelcast-authz" ;;
        pusher | pusher-[0-9]*) printf '%s' "$MC_BUILD_DIR/services/pusher/modelcast-pusher" ;;
        *) return 1 ;;
    esac
}

# Checks component names; with none, prints them all (in start order).
mc_components() {
    if (($# == 0)); then
        printf '%s\n' "${MC_COMPONENTS[@]}"
        return
    fi
    local c k
    for c in "${MC_COMPONENTS[@]}"; do  # keep start order whatever order was asked
        for k in "$@"; do
            [[ $k == "$c" ]] && printf '%s\n' "$c" && break
        done
    done
    local known
    for k in "$@"; do
        known=0
        for c in "${MC_COMPONENTS[@]}"; do [[ $k == "$c" ]] && known=1; done
        ((known)) || mc_die "unknown component '$k' (known: ${MC_COMPONENTS[*]}; more pushers: MC_PUSHERS)"
    done
}

mc_pg_conninfo() { printf 'host=127.0.0.1 port=%s dbname=modelcast user=modelcast' "$MC_PG_PORT"; }

# The PostgreSQL data folder chosen by up (may be outside MC_VAR, see up).
mc_pgdata() {
    if [[ -f $MC_VAR/run/pgdata ]]; then
        cat "$MC_VAR/run/pgdata"
    else
        printf '%s/pg' "$MC_VAR"
    fi
}

mc_kafka_cp() { printf '%s/*' "$KAFKA_LIBS"; }
