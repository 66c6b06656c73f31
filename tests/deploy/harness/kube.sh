#!/usr/bin/env bash
# Usage: tests/deploy/harness/kube.sh [--help] start|stop|status|env|import IMAGE...
#
# A single-node Kubernetes for the deployment test, from the binaries build-go.sh made
# (k8s.io/kubernetes $KUBERNETES_VERSION), etcd from Debian, a second containerd with its CRI
# plugin (Docker's has it disabled) and the CNI bridge plugin. Everything it starts is a child
# of this harness, with its state under $MC_DEPLOY_RUN/kube and logs in
# $MC_DEPLOY_CACHE/logs/kube; images stay in $MC_DEPLOY_CACHE/containerd-k8s.
#   start    network (bridge mcdeploy0, 10.213.0.1/24), cluster DNS (dnsmasq + a sync of
#            Services to their ready endpoints: there is no kube-proxy/CoreDNS), etcd,
#            apiserver, controller-manager, scheduler, containerd, kubelet; waits for the node
#            to be Ready; imports the pause image. Idempotent.
#   stop     the reverse, and removes what they leave: pods' processes, mounts, network
#            namespaces, the bridge, iptables KUBE-* chains, kubepods cgroups
#   status   exit 0 when the node is Ready
#   env      print the KUBECONFIG / PATH exports the tests use
#   import   load docker images (from the harness's dockerd) into the cluster's containerd
# Traps handled (see issue 10): cgroup v1 host (cgroupfs, failCgroupV1: false); runc and
# oom_score_adj (restrict_oom_score_adj); no registry (pause image built, images imported);
# logs/exec need --kubelet-preferred-address-types=InternalIP,Hostname.
set -euo pipefail
# shellcheck source=tests/deploy/harness/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if h_help_requested "$@"; then
    h_usage "${BASH_SOURCE[0]}"
    exit 0
fi

KBIN="$BIN_DIR/kubernetes-$KUBERNETES_VERSION"
KRUN="$MC_DEPLOY_RUN/kube"
KLOG="$MC_DEPLOY_CACHE/logs/kube"
PKI="$KRUN/pki"
CTRD_ROOT="$MC_DEPLOY_CACHE/containerd-k8s"
CTRD_SOCK="$KRUN/containerd/containerd.sock"
BRIDGE=mcdeploy0
NODE_IP=10.213.0.1
POD_SUBNET=10.213.0.0/24
SERVICE_RANGE=10.213.128.0/24
NODE_NAME=mc-deploy-node
: "${MC_KUBE_ETCD_PORT:=32379}"
: "${MC_KUBE_API_PORT:=36443}"
export KUBECONFIG="$KRUN/admin.kubeconfig"
export PATH="$KBIN:$PATH"

k_env() {
    printf 'export KUBECONFIG=%q\n' "$KUBECONFIG"
    # shellcheck disable=SC2016  # $PATH is for the shell that evals this
    printf 'export PATH=%q:"$PATH"\n' "$KBIN:$BIN_DIR/helm-$HELM_VERSION"
}

pidfile() { printf '%s/%s.pid' "$KRUN" "$1"; }
running() { [[ -f $(pidfile "$1") ]] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }

# start_daemon NAME CMD... : in its own session, log in $KLOG/NAME.log, pid in $KRUN/NAME.pid.
start_daemon() {
    local name=$1
    shift
    if running "$name"; then return 0; fi
    h_log "starting $name"
    setsid "$@" >>"$KLOG/$name.log" 2>&1 </dev/null &
    echo $! >"$(pidfile "$name")"
}

stop_daemon() {
    local name=$1 pid _
    [[ -f $(pidfile "$name") ]] || return 0
    pid=$(cat "$(pidfile "$name")")
    if kill -0 "$pid" 2>/dev/null; then
        h_log "stopping $name ($pid)"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$(pidfile "$name")"
}

pki() {
    [[ -f $PKI/admin.crt ]] && return 0
    mkdir -p "$PKI"
    (
        cd "$PKI"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 \
            -subj "/CN=modelcast-deploy-ca" 2>/dev/null
        cat >apiserver.ext <<EXT
subjectAltName=IP:127.0.0.1,IP:$NODE_IP,IP:${SERVICE_RANGE%.0/24}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EXT
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
        openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
            -extfile apiserver.ext -out apiserver.crt 2>/dev/null
        # One client identity for every component and the tests: a cluster admin.
        openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
            -subj "/O=system:masters/CN=modelcast-deploy-admin" 2>/dev/null
        openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
            -extfile client.ext -out admin.crt 2>/dev/null
        openssl genrsa -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    )
    "$KBIN/kubectl" config set-cluster local --server="https://127.0.0.1:$MC_KUBE_API_PORT" \
        --certificate-authority="$PKI/ca.crt" --embed-certs >/dev/null
    "$KBIN/kubectl" config set-credentials admin --client-certificate="$PKI/admin.crt" \
        --client-key="$PKI/admin.key" --embed-certs >/dev/null
    "$KBIN/kubectl" config set-context local --cluster=local --user=admin >/dev/null
    "$KBIN/kubectl" config use-context local >/dev/null
}

network() {
    [[ -f $KRUN/ip_forward.orig ]] || cat /proc/sys/net/ipv4/ip_forward >"$KRUN/ip_forward.orig"
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        h_log "creating bridge $BRIDGE ($NODE_IP/24)"
        ip link add "$BRIDGE" type bridge
        ip addr add "$NODE_IP/24" dev "$BRIDGE"
        ip link set "$BRIDGE" up
    fi
    mkdir -p "$KRUN/cni/net.d" "$KRUN/cni/ipam"
    cat >"$KRUN/cni/net.d/10-modelcast-deploy.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "modelcast-deploy",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
     "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$KRUN/cni/ipam",
              "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$NODE_IP"}]]}}
  ]
}
CNI
}

cluster_dns() {
    h_apt dnsmasq-base
    mkdir -p "$KRUN/dns"
    chmod 755 "$KRUN" "$KRUN/dns"
    touch "$KRUN/dns/hosts"
    chmod 644 "$KRUN/dns/hosts"
    # Answers only from the hosts file the sync writes; NXDOMAIN for everything else, never
    # forwarded anywhere.
    start_daemon dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
        --no-hosts --addn-hosts="$KRUN/dns/hosts" --listen-address="$NODE_IP" \
        --bind-interfaces --port=53 --local-ttl=1 --address=/#/ --pid-file="$KRUN/dnsmasq.real.pid" \
        --log-facility=-
}

etcd_up() { curl -fsS "http://127.0.0.1:$MC_KUBE_ETCD_PORT/health" | grep -q true; }
api_up() { "$KBIN/kubectl" get --raw /readyz >/dev/null 2>&1; }
node_ready() {
    "$KBIN/kubectl" get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

control_plane() {
    h_apt etcd-server curl
    mkdir -p "$KRUN/etcd"
    start_daemon etcd etcd --name mc-deploy --data-dir "$KRUN/etcd" \
        --listen-client-urls "http://127.0.0.1:$MC_KUBE_ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$MC_KUBE_ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$((MC_KUBE_ETCD_PORT + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((MC_KUBE_ETCD_PORT + 1))" \
        --initial-cluster "mc-deploy=http://127.0.0.1:$((MC_KUBE_ETCD_PORT + 1))"
    H_WAIT=60 h_wait etcd_up || h_die "etcd did not start (log $KLOG/etcd.log)"
    start_daemon kube-apiserver "$KBIN/kube-apiserver" \
        --etcd-servers="http://127.0.0.1:$MC_KUBE_ETCD_PORT" \
        --bind-address=127.0.0.1 --secure-port="$MC_KUBE_API_PORT" --advertise-address="$NODE_IP" \
        --service-cluster-ip-range="$SERVICE_RANGE" \
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --client-ca-file="$PKI/ca.crt" \
        --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
        --kubelet-preferred-address-types=InternalIP,Hostname \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
        --authorization-mode=Node,RBAC --allow-privileged=true --profiling=false \
        --endpoint-reconciler-type=none
    H_WAIT=120 h_wait api_up || h_die "kube-apiserver did not become ready (log $KLOG/kube-apiserver.log)"
    start_daemon kube-controller-manager "$KBIN/kube-controller-manager" \
        --kubeconfig="$KUBECONFIG" --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
        --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
        --use-service-account-credentials=false --controllers='*,-nodeipam' --profiling=false
    start_daemon kube-scheduler "$KBIN/kube-scheduler" --kubeconfig="$KUBECONFIG" \
        --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --profiling=false
}

containerd_up() { ctr --address "$CTRD_SOCK" version >/dev/null 2>&1; }

runtime() {
    h_apt containerd runc containernetworking-plugins
    mkdir -p "$KRUN/containerd" "$CTRD_ROOT"
    cat >"$KRUN/containerd/config.toml" <<TOML
version = 2
root = "$CTRD_ROOT"
state = "$KRUN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "$KRUN/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # runc cannot set a lower oom_score_adj than its parent's here
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$KRUN/cni/net.d"
TOML
    start_daemon containerd containerd --config "$KRUN/containerd/config.toml"
    H_WAIT=60 h_wait containerd_up || h_die "containerd did not start (log $KLOG/containerd.log)"
    import_tar registry.k8s.io/pause:3.10 "$MC_DEPLOY_CACHE/images/pause.tar"
}

import_tar() {
    local ref=$1 tar=$2
    if ctr --address "$CTRD_SOCK" -n k8s.io images ls -q | grep -qx "$ref"; then
        return 0
    fi
    [[ -f $tar ]] || h_die "$tar missing (images.sh pause)"
    ctr --address "$CTRD_SOCK" -n k8s.io images import "$tar" >/dev/null
}

# Imports docker images into the cluster's containerd (refreshing tags that moved).
k_import() {
    eval "$("$HARNESS_DIR/docker.sh" env)"
    local img id ref
    for img in "$@"; do
        id=$(docker image inspect -f '{{.Id}}' "$img")
        ref=$img
        [[ $ref == */* ]] || ref="docker.io/library/$ref"
        [[ ${ref%%/*} == *.* ]] || ref="docker.io/$ref"
        if [[ $(ctr --address "$CTRD_SOCK" -n k8s.io images ls "name==$ref" -q 2>/dev/null) == "$ref" &&
            $(cat "$KRUN/import-$(echo "$ref" | tr '/:' '__').id" 2>/dev/null) == "$id" ]]; then
            continue
        fi
        h_log "importing $img into the cluster"
        docker save "$img" | ctr --address "$CTRD_SOCK" -n k8s.io images import - >/dev/null
        echo "$id" >"$KRUN/import-$(echo "$ref" | tr '/:' '__').id"
    done
}

kubelet() {
    mkdir -p "$KRUN/kubelet" "$KRUN/kubelet-certs"
    : >"$KRUN/resolv.conf"
    cat >"$KRUN/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$CTRD_SOCK
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: $KRUN/resolv.conf
makeIPTablesUtilChains: false
serializeImagePulls: false
maxPods: 60
evictionHard: {memory.available: 200Mi, nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
rotateCertificates: false
YAML
    start_daemon kubelet "$KBIN/kubelet" --config="$KRUN/kubelet.yaml" --kubeconfig="$KUBECONFIG" \
        --root-dir="$KRUN/kubelet" --cert-dir="$KRUN/kubelet-certs" \
        --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
    H_WAIT=180 h_wait node_ready || h_die "node not Ready within 180s (log $KLOG/kubelet.log)"
}

dns_sync() {
    start_daemon dns-sync python3 "$HARNESS_DIR/kube-dns-sync.py" --hosts "$KRUN/dns/hosts" \
        --pidfile "$KRUN/dnsmasq.real.pid" --kubectl "$KBIN/kubectl"
}

k_start() {
    h_require_root
    [[ -x $KBIN/kubelet ]] || h_die "no Kubernetes binaries in $KBIN (build-go.sh kubernetes)"
    mkdir -p "$KRUN" "$KLOG"
    if node_ready && running kubelet; then
        h_log "cluster already running"
        return 0
    fi
    pki
    network
    cluster_dns
    control_plane
    runtime
    kubelet
    dns_sync
    h_log "node $NODE_NAME Ready ($("$KBIN/kubectl" version -o json 2>/dev/null | grep -m1 gitVersion | tr -d ' ",'))"
}

# Deletes iptables chains named KUBE-* (and the rules jumping to them) in every table.
clean_iptables() {
    local ipt table chain rule
    for ipt in iptables ip6tables; do
        command -v "$ipt" >/dev/null || continue
        for table in filter nat mangle raw; do
            "$ipt" -t "$table" -S >/dev/null 2>&1 || continue
            while read -r rule; do
                [[ -n $rule ]] || continue
                # shellcheck disable=SC2086  # a rule is a word list
                "$ipt" -t "$table" ${rule/-A /-D } 2>/dev/null || true
            done < <("$ipt" -t "$table" -S | grep -E '^-A .* -j KUBE-' | grep -vE '^-A KUBE-')
            for chain in $("$ipt" -t "$table" -S | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
                "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
            done
            for chain in $("$ipt" -t "$table" -S | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
                "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
            done
        done
    done
}

k_stop() {
    mkdir -p "$KRUN"
    if api_up && running kubelet; then
        # Let the kubelet stop the pods itself (CNI DEL, volumes) while it still runs.
        local ns
        for ns in $("$KBIN/kubectl" get ns -o name 2>/dev/null | sed 's#namespace/##' | grep '^mcdeploy' || true); do
            "$KBIN/kubectl" delete ns "$ns" --wait=false >/dev/null 2>&1 || true
        done
        H_WAIT=60 h_wait bash -c "! '$KBIN/kubectl' get pods -A --no-headers 2>/dev/null | grep -q ." || true
    fi
    stop_daemon dns-sync
    stop_daemon kubelet
    if containerd_up; then
        local t
        for t in $(ctr --address "$CTRD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$CTRD_SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
        done
        sleep 1
        for t in $(ctr --address "$CTRD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$CTRD_SOCK" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1 || true
        done
        for t in $(ctr --address "$CTRD_SOCK" -n k8s.io containers ls -q 2>/dev/null); do
            ctr --address "$CTRD_SOCK" -n k8s.io containers delete "$t" >/dev/null 2>&1 || true
        done
    fi
    stop_daemon containerd
    # Shims of our containerd that outlived it (their -address names our socket).
    local p
    for p in $(pgrep -f "containerd-shim.*-address $CTRD_SOCK" || true); do kill -9 "$p" 2>/dev/null || true; done
    stop_daemon kube-scheduler
    stop_daemon kube-controller-manager
    stop_daemon kube-apiserver
    stop_daemon etcd
    stop_daemon dnsmasq
    # Mounts: pod volumes, container rootfs, sandbox netns.
    local m
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v a="$KRUN" -v b="$CTRD_ROOT" '$2 ~ "^"a || $2 ~ "^"b || $2 ~ "^/(var/)?run/netns/cni-" {print $2}' /proc/mounts | sort -r)
    rm -f /run/netns/cni-* 2>/dev/null || true
    # The pod network and the kubelet's iptables chains.
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
    local v
    for v in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^veth' || true); do
        if [[ $(cat "/sys/class/net/$v/master/uevent" 2>/dev/null) == *"$BRIDGE"* ]]; then
            ip link del "$v" 2>/dev/null || true
        fi
    done
    clean_iptables
    # cgroups the kubelet made (cgroup v1: one tree per controller; v2: one tree).
    # -depth: children before parents, so each rmdir finds its folder empty.
    find /sys/fs/cgroup -depth -type d -path '*kubepods*' -exec rmdir {} \; 2>/dev/null || true
    if [[ -f $KRUN/ip_forward.orig ]]; then
        cat "$KRUN/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward
    fi
    rm -rf "$KRUN"
}

case ${1:-} in
start) h_timed kube-start k_start ;;
stop) k_stop ;;
status) node_ready ;;
env) k_env ;;
import)
    shift
    k_import "$@"
    ;;
*) h_die "usage: $0 start|stop|status|env|import IMAGE... (see --help)" ;;
esac
