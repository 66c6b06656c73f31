# shellcheck shell=bash
# Shared settings and helpers of the deployment test harness (tests/deploy/harness/*.sh).
# Sourced, never run. Everything it builds lives in $MC_DEPLOY_CACHE (outside the clone), keyed
# by the versions in versions.env; everything it starts keeps its state under $MC_DEPLOY_RUN.
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # REPO, BIN_DIR, DOCKER_CONFIG_DIR: for the scripts that source this
REPO=$(cd "$HARNESS_DIR/../../.." && pwd)
# shellcheck source=tests/deploy/harness/versions.env
source "$HARNESS_DIR/versions.env"

: "${MC_DEPLOY_CACHE:=/var/cache/modelcast-deploy}"
: "${MC_DEPLOY_RUN:=/run/modelcast-deploy}"
# Long builds run at the lowest priority: the machine is shared.
: "${MC_DEPLOY_NICE:=19}"
export MC_DEPLOY_CACHE MC_DEPLOY_RUN

# Go: a private module and build cache, so a cold run measures what a fresh machine pays.
export GOMODCACHE="$MC_DEPLOY_CACHE/go/mod" GOCACHE="$MC_DEPLOY_CACHE/go/build"
export GOPATH="$MC_DEPLOY_CACHE/go/path" GOTOOLCHAIN=local
export PATH="/usr/local/go/bin:$PATH"

# shellcheck disable=SC2034
BIN_DIR="$MC_DEPLOY_CACHE/bin"
# The docker CLI plugin folder the harness's docker calls use (DOCKER_CONFIG).
# shellcheck disable=SC2034
DOCKER_CONFIG_DIR="$MC_DEPLOY_CACHE/docker-config"
TIMINGS="$MC_DEPLOY_CACHE/timings.log"

h_log() { printf '[deploy %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
h_die() {
    printf '[deploy] error: %s\n' "$*" >&2
    exit 1
}

# True when -h or --help is among the arguments.
h_help_requested() {
    local a
    for a in "$@"; do [[ $a == -h || $a == --help ]] && return 0; done
    return 1
}
# Prints the leading comment block of script $1 (its usage text).
h_usage() { sed -n '2,/^set -euo/p' "$1" | sed '$d' | sed 's/^# \{0,1\}//'; }

h_require_root() { ((EUID == 0)) || h_die "needs root (it installs packages and starts daemons)"; }

# Runs "$@" and appends "<step> <seconds>" to the timings log (cold and warm runs both land there).
h_timed() {
    local step=$1 t0 rc=0
    shift
    t0=$(date +%s)
    # A subshell outside any condition, so `set -e` holds inside the step.
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    mkdir -p "$MC_DEPLOY_CACHE"
    printf '%s %s %ds rc=%d\n' "$(date -u +%FT%TZ)" "$step" $(($(date +%s) - t0)) "$rc" >>"$TIMINGS"
    h_log "$step: $(($(date +%s) - t0))s (rc=$rc)"
    return "$rc"
}

# Installs the Debian packages given that are missing (apt-get update once, only then).
h_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    h_log "apt: installing ${missing[*]}"
    if [[ ! -f /var/lib/apt/.modelcast-deploy-updated ]] || ! apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        apt-get -o DPkg::Lock::Timeout=900 update -qq
        touch /var/lib/apt/.modelcast-deploy-updated
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Waits until command "$@" succeeds, up to $H_WAIT seconds (default 120); 1 when it never did.
h_wait() {
    local deadline=$((SECONDS + ${H_WAIT:-120}))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}
