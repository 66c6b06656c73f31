#!/usr/bin/env bash
# Usage: tests/deploy/harness/build-go.sh [--help] [all]
#
# Builds the Go tools the deployment test needs from the Go module proxy, once, into
# $MC_DEPLOY_CACHE/bin (default /var/cache/modelcast-deploy/bin), in ONE `go build`:
#   compose-$COMPOSE_VERSION/docker-compose   Docker Compose v2 (github.com/docker/compose/v2),
#                                             also linked as a docker CLI plugin in
#                                             $MC_DEPLOY_CACHE/docker-config/cli-plugins
#   helm-$HELM_VERSION/helm                   helm.sh/helm/v3
#   kubernetes-$KUBERNETES_VERSION/           k8s.io/kubernetes: kube-apiserver,
#                                             kube-controller-manager, kube-scheduler, kubelet,
#                                             kubectl
# Nothing is built when all of them are there. How: a module of the harness's own
# ($MC_DEPLOY_CACHE/src/tools/go.mod, written here from versions.env) requires the three, with
# k8s.io/kubernetes's ./staging replaces pointed at the published k8s.io/* modules of the same
# release. Go's minimal version selection then gives one version of every dependency the three
# share (k8s.io/api, apimachinery, client-go, grpc, golang.org/x/..., protobuf), so each shared
# package is compiled once instead of once per tool (about 3,050 packages instead of 4,200),
# and one `go build -trimpath -ldflags='-s -w'` keeps both cores busy until the links. Builds
# run under `nice -n $MC_DEPLOY_NICE` (19); CGO is off, as in the three projects' releases.
# Progress (packages compiled) is printed every minute. Measured times: tests/deploy/README.md.
set -euo pipefail
# shellcheck source=tests/deploy/harness/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if h_help_requested "$@"; then
    h_usage "${BASH_SOURCE[0]}"
    exit 0
fi

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
OUT_COMPOSE="$BIN_DIR/compose-$COMPOSE_VERSION"
OUT_HELM="$BIN_DIR/helm-$HELM_VERSION"
OUT_KUBE="$BIN_DIR/kubernetes-$KUBERNETES_VERSION"
SRC="$MC_DEPLOY_CACHE/src/tools"
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

complete() {
    local c
    [[ -x $OUT_COMPOSE/docker-compose && -x $OUT_HELM/helm ]] || return 1
    for c in "${KUBE_CMDS[@]}"; do [[ -x $OUT_KUBE/$c ]] || return 1; done
}

# The main packages of the three tools, as import paths of the tools module's build list.
packages() {
    local c
    for c in "${KUBE_CMDS[@]}"; do printf 'k8s.io/kubernetes/cmd/%s\n' "$c"; done
    printf '%s\n' helm.sh/helm/v3/cmd/helm github.com/docker/compose/v2/cmd
}

# go.mod of the tools module: the three tools at their versions, k8s.io/kubernetes's staging
# modules (its go.mod replaces them with ./staging/src/k8s.io/X) at the published release.
write_module() {
    local kmod
    mkdir -p "$SRC"
    kmod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
    [[ -f $kmod ]] || h_die "go mod download k8s.io/kubernetes@$KUBERNETES_VERSION gave no go.mod"
    {
        printf '// Written by tests/deploy/harness/build-go.sh: the Go tools of the deployment test.\n'
        printf 'module modelcast.local/deploy-tools\n\n'
        # The newest go line of the three (compose's), and Kubernetes' own GODEBUG defaults.
        printf 'go 1.24.9\n\ngodebug default=go1.24\n\n'
        printf 'require (\n\tgithub.com/docker/compose/v2 %s\n\thelm.sh/helm/v3 %s\n\tk8s.io/kubernetes %s\n)\n\n' \
            "$COMPOSE_VERSION" "$HELM_VERSION" "$KUBERNETES_VERSION"
        sed -n '/^replace (/,/^)/p' "$kmod" |
            sed -E "s#=> \./staging/src/(k8s\.io/[A-Za-z0-9._/-]+)#=> \1 $KUBERNETES_STAGING_VERSION#"
    } >"$SRC/go.mod.new"
    grep -q "=> ./" "$SRC/go.mod.new" && h_die "a replace into k8s.io/kubernetes's own tree is left"
    mv "$SRC/go.mod.new" "$SRC/go.mod"
}

# Prints how many packages `go build -v` has compiled so far, every minute, until $1 exits.
progress() {
    local pid=$1 log=$2 total=$3 t0=$SECONDS i
    while kill -0 "$pid" 2>/dev/null; do
        for i in {1..12}; do
            sleep 5
            kill -0 "$pid" 2>/dev/null || return 0
        done
        h_log "go build: $(grep -c '' "$log" 2>/dev/null || echo 0) of at most $total packages compiled, $((SECONDS - t0))s, load $(cut -d' ' -f1-3 /proc/loadavg)"
    done
}

build_tools() {
    if complete; then
        mkdir -p "$DOCKER_CONFIG_DIR/cli-plugins"
        ln -sfn "$OUT_COMPOSE/docker-compose" "$DOCKER_CONFIG_DIR/cli-plugins/docker-compose"
        return 0
    fi
    h_log "building compose $COMPOSE_VERSION, helm $HELM_VERSION and kubernetes $KUBERNETES_VERSION (${KUBE_CMDS[*]}) in one go build (long when cold: see tests/deploy/README.md)"
    write_module
    cd "$SRC"
    local pkgs total
    mapfile -t pkgs < <(packages)
    # Resolves the build list and downloads the modules it needs (go.sum checked with the
    # checksum database), so the compile below only compiles.
    h_timed build-go-download go list -deps -f '{{.ImportPath}}' "${pkgs[@]}" >"$SRC/deps.txt"
    total=$(grep -c '' "$SRC/deps.txt")
    h_log "build list resolved: $total packages (standard library included); compiling"

    local ldf="-s -w" v major=${KUBERNETES_VERSION#v} minor kv hmajor hminor
    minor=${major#*.}
    minor=${minor%%.*}
    major=${major%%.*}
    for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldf+=" -X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=$major -X $v.gitMinor=$minor"
        ldf+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
    done
    # As helm's own Makefile: the Kubernetes version helm assumes offline (template, lint) is
    # the one of the client-go it is built with.
    kv=$(go list -m -f '{{.Version}}' k8s.io/client-go)
    kv=${kv#v}
    hmajor=$((${kv%%.*} + 1))
    hminor=${kv#*.}
    hminor=${hminor%%.*}
    ldf+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    for v in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        ldf+=" -X $v.k8sVersionMajor=$hmajor -X $v.k8sVersionMinor=$hminor"
    done
    ldf+=" -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"

    local out="$MC_DEPLOY_CACHE/src/tools-out" log="$MC_DEPLOY_CACHE/logs/go-build-packages.log" pid rc=0
    rm -rf "$out"
    mkdir -p "$out" "$MC_DEPLOY_CACHE/logs"
    : >"$log"
    nice -n "$MC_DEPLOY_NICE" go build -v -trimpath -ldflags "$ldf" -o "$out/" "${pkgs[@]}" 2>"$log" &
    pid=$!
    progress "$pid" "$log" "$total" &
    local ppid=$!
    wait "$pid" || rc=$?
    kill "$ppid" 2>/dev/null || true
    wait "$ppid" 2>/dev/null || true
    if ((rc != 0)); then
        grep -v '^[A-Za-z0-9_.~/-]*$' "$log" | tail -40 >&2
        h_die "go build failed (rc=$rc; all output in $log)"
    fi
    h_log "go build: $(grep -c '' "$log") packages compiled"
    # `go build -o dir/` names a binary after its package's last element: compose's is "cmd".
    local c
    rm -rf "$OUT_KUBE.tmp" "$OUT_HELM.tmp" "$OUT_COMPOSE.tmp"
    mkdir -p "$OUT_KUBE.tmp" "$OUT_HELM.tmp" "$OUT_COMPOSE.tmp"
    for c in "${KUBE_CMDS[@]}"; do mv "$out/$c" "$OUT_KUBE.tmp/"; done
    mv "$out/helm" "$OUT_HELM.tmp/helm"
    mv "$out/cmd" "$OUT_COMPOSE.tmp/docker-compose"
    local d
    for d in "$OUT_KUBE" "$OUT_HELM" "$OUT_COMPOSE"; do
        rm -rf "$d" && mv "$d.tmp" "$d"
    done
    rm -rf "$out"
    mkdir -p "$DOCKER_CONFIG_DIR/cli-plugins"
    ln -sfn "$OUT_COMPOSE/docker-compose" "$DOCKER_CONFIG_DIR/cli-plugins/docker-compose"
    "$OUT_KUBE/kubectl" version --client 2>/dev/null | head -1 >&2 || true
}

for t in "${@:-all}"; do
    case $t in
    all) h_timed build-go build_tools ;;
    *) h_die "unknown target $t (see --help)" ;;
    esac
done
