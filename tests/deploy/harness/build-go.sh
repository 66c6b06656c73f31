#!/usr/bin/env bash
# Usage: tests/deploy/harness/build-go.sh [--help] [compose|helm|kubernetes|all]...
#
# Builds the Go tools the deployment test needs from the Go module proxy, once, into
# $MC_DEPLOY_CACHE/bin/<tool>-<version>/ (default /var/cache/modelcast-deploy); a tool whose
# folder is complete is not rebuilt. Builds run under `nice -n $MC_DEPLOY_NICE` (19).
#   compose      Docker Compose v2 (github.com/docker/compose/v2, $COMPOSE_VERSION), installed as
#                a docker CLI plugin in $MC_DEPLOY_CACHE/docker-config/cli-plugins
#   helm         helm.sh/helm/v3 at $HELM_VERSION
#   kubernetes   k8s.io/kubernetes at $KUBERNETES_VERSION: kube-apiserver, kube-controller-manager,
#                kube-scheduler, kubelet, kubectl. The module's staging replaces point
#                into its own tree, so the build rewrites them to the published k8s.io/* modules.
# Measured cold on 2 shared cores: see tests/deploy/README.md. Versions: versions.env.
set -euo pipefail
# shellcheck source=tests/deploy/harness/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if h_help_requested "$@"; then
    h_usage "${BASH_SOURCE[0]}"
    exit 0
fi

# Copies module $1@$2 out of the read-only module cache into a fresh writable folder $3.
writable_module() {
    local dir
    go mod download "$1@$2" >/dev/null
    dir=$(go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    [[ -d $dir ]] || h_die "go mod download $1@$2 gave no folder"
    rm -rf "$3"
    mkdir -p "$(dirname "$3")"
    cp -r "$dir" "$3"
    chmod -R u+w "$3"
}

build_compose() {
    local out="$BIN_DIR/compose-$COMPOSE_VERSION" src="$MC_DEPLOY_CACHE/src/compose"
    if [[ ! -x $out/docker-compose ]]; then
        h_log "building docker compose $COMPOSE_VERSION (a few minutes)"
        writable_module github.com/docker/compose/v2 "$COMPOSE_VERSION" "$src"
        (cd "$src" && GOFLAGS=-mod=mod nice -n "$MC_DEPLOY_NICE" go build -trimpath \
            -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
            -o "$out.tmp/docker-compose" ./cmd)
        rm -rf "$out" && mv "$out.tmp" "$out"
        rm -rf "$src"
    fi
    mkdir -p "$DOCKER_CONFIG_DIR/cli-plugins"
    ln -sfn "$out/docker-compose" "$DOCKER_CONFIG_DIR/cli-plugins/docker-compose"
}

build_helm() {
    local out="$BIN_DIR/helm-$HELM_VERSION" src="$MC_DEPLOY_CACHE/src/helm"
    [[ -x $out/helm ]] && return 0
    h_log "building helm $HELM_VERSION"
    writable_module helm.sh/helm/v3 "$HELM_VERSION" "$src"
    (
        cd "$src"
        # As helm's own Makefile: the Kubernetes version it assumes offline (helm template,
        # lint) is the one of the client-go it is built with (v0.34 -> 1.34).
        local kv major minor ldf
        kv=$(GOFLAGS=-mod=mod go list -m -f '{{.Version}}' k8s.io/client-go)
        kv=${kv#v}
        major=$((${kv%%.*} + 1))
        minor=${kv#*.}
        minor=${minor%%.*}
        ldf="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
        for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
            ldf+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
        done
        GOFLAGS=-mod=mod nice -n "$MC_DEPLOY_NICE" go build -trimpath -ldflags "$ldf" \
            -o "$out.tmp/helm" ./cmd/helm
    )
    rm -rf "$out" && mv "$out.tmp" "$out"
    rm -rf "$src"
}

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

build_kubernetes() {
    local out="$BIN_DIR/kubernetes-$KUBERNETES_VERSION" src="$MC_DEPLOY_CACHE/src/kubernetes" c
    local complete=1
    for c in "${KUBE_CMDS[@]}"; do [[ -x $out/$c ]] || complete=0; done
    ((complete)) && return 0
    h_log "building kubernetes $KUBERNETES_VERSION: ${KUBE_CMDS[*]} (long: ~16+ min on 2 cores)"
    writable_module k8s.io/kubernetes "$KUBERNETES_VERSION" "$src"
    (
        cd "$src"
        rm -rf vendor go.work go.work.sum
        # ./staging/src/k8s.io/X replaces -> the published k8s.io/X module of the same release.
        sed -i -E "s#=> \./staging/src/(k8s\.io/[A-Za-z0-9._/-]+)#=> \1 $KUBERNETES_STAGING_VERSION#" go.mod
        local major=${KUBERNETES_VERSION#v} minor
        minor=${major#*.}
        minor=${minor%%.*}
        major=${major%%.*}
        local v ldf=""
        for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
            ldf+=" -X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=$major -X $v.gitMinor=$minor"
            ldf+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
        done
        local pkgs=()
        for c in "${KUBE_CMDS[@]}"; do pkgs+=("./cmd/$c"); done
        GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 nice -n "$MC_DEPLOY_NICE" \
            go build -trimpath -ldflags "-s -w$ldf" -o "$out.tmp/" "${pkgs[@]}"
    )
    rm -rf "$out" && mv "$out.tmp" "$out"
    rm -rf "$src"
}

targets=("$@")
((${#targets[@]})) || targets=(all)
for t in "${targets[@]}"; do
    case $t in
    compose) h_timed build-compose build_compose ;;
    helm) h_timed build-helm build_helm ;;
    kubernetes) h_timed build-kubernetes build_kubernetes ;;
    all)
        h_timed build-compose build_compose
        h_timed build-helm build_helm
        h_timed build-kubernetes build_kubernetes
        ;;
    *) h_die "unknown target $t (see --help)" ;;
    esac
done
