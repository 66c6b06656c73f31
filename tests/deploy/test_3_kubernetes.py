"""Kubernetes, run for real: the chart (deploy/helm/modelcast) installed into the harness's
single-node cluster (tests/deploy/harness/kube.sh), with PostgreSQL and Kafka as pods from the
stand-in images (tests/deploy/k8s/backing.yaml). Traffic reaches the Services through
`kubectl port-forward` on loopback, as an operator's laptop would.

Scenarios (issue 10): strict decoding of every rendered object by the apiserver; the chart
installed, all pods Ready; a write reaches a subscriber through the pusher Service; `kubectl
rollout restart` of the pushers with clients resuming without a gap (after a 1001 close); an
authz pod deleted -> another takes over and nothing is lost; model-api stays Ready while Kafka
is scaled to 0 ("degraded"); an authz fenced by a twin with its id exits 1 and is restarted.
The edge (the chart's nginx with deploy/edge/modelcast.conf, what the Ingress example points
at) serves the examples and routes REST and the WebSocket on one origin.
"""

import json
import os
import secrets
import subprocess
import time
import uuid

import pytest

from deploy_lib import (HARNESS, REPO, Rest, Subscriber, free_port, harness_env, log,
                        origin_refused_code, run, wait_until)

NS = f"mcdeploy-{uuid.uuid4().hex[:6]}"
RELEASE = "mc"
FULL = f"{RELEASE}-modelcast"
CHART = REPO / "deploy" / "helm" / "modelcast"
IMAGES = ["modelcast:0.1.0", "modelcast-edge:0.1.0", "postgres:15", "apache/kafka:4.1.1"]
# Kafka's data: a folder of the node, under the harness's run directory (kube.sh stop removes it).
KAFKA_DATA = (f"{os.environ.get('MC_DEPLOY_RUN', '/run/modelcast-deploy')}/kube/volumes/"
              f"{NS}/kafka")


class Kube:
    def __init__(self, tmp):
        self.env = harness_env()
        out = run(["bash", str(HARNESS / "kube.sh"), "env"], env=self.env).stdout
        for line in out.splitlines():
            k, _, v = line.replace("export ", "", 1).partition("=")
            v = v.replace(':"$PATH"', ":" + self.env["PATH"]).strip("'\"")
            self.env[k] = v
        self.jwt_key = secrets.token_urlsafe(32)
        self.tmp = tmp
        self.forwards = {}

    def kubectl(self, *args, check=True, timeout=300, input=None):
        return run(["kubectl", "-n", NS, *args], check=check, timeout=timeout, env=self.env,
                   input=input)

    def helm(self, *args, check=True, timeout=600):
        return run(["helm", *args], check=check, timeout=timeout, env=self.env)

    def helm_args(self):
        return [str(CHART), "-n", NS, "-f", str(REPO / "tests/deploy/k8s/values-test.yaml"),
                "--set", "postgresql.conninfo=host=postgres port=5432 dbname=modelcast "
                "user=modelcast password=deploy-test-only",
                "--set", f"jwt.key={self.jwt_key}"]

    def pods(self, selector=None):
        args = ["get", "pods", "-o", "json"] + (["-l", selector] if selector else [])
        return json.loads(self.kubectl(*args).stdout)["items"]

    @staticmethod
    def ready(pod):
        if pod["metadata"].get("deletionTimestamp"):
            return False
        return any(c["type"] == "Ready" and c["status"] == "True"
                   for c in pod["status"].get("conditions", []))

    def wait_pods_ready(self, selector, count, what, deadline_s=300):
        def ok():
            ps = [p for p in self.pods(selector) if self.ready(p)]
            if len(ps) != count or len(self.pods(selector)) != count:
                raise AssertionError(f"{len(ps)} ready of {len(self.pods(selector))}, want {count}")
            return ps
        return wait_until(ok, what, deadline_s=deadline_s)

    # A `kubectl port-forward svc/...` on a free loopback port, restarted when it dies (it
    # follows one pod; when that pod goes, a new forward picks a live one).
    def forward(self, svc, port):
        key = (svc, port)
        pf = self.forwards.get(key)
        if pf and pf["proc"].poll() is None:
            return pf["local"]
        local = pf["local"] if pf else free_port()
        proc = subprocess.Popen(["kubectl", "-n", NS, "port-forward", f"svc/{svc}",
                                 f"{local}:{port}"], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        line = proc.stdout.readline()
        if "Forwarding from" not in line:
            proc.kill()
            raise AssertionError(f"port-forward svc/{svc}: {line.strip()}")
        self.forwards[key] = {"proc": proc, "local": local}
        return local

    def drop_forward(self, svc, port):
        pf = self.forwards.get((svc, port))
        if pf and pf["proc"].poll() is None:
            pf["proc"].kill()
            pf["proc"].wait()

    def stop_forwards(self):
        for pf in self.forwards.values():
            pf["proc"].kill()
            pf["proc"].wait()
        self.forwards.clear()


class ForwardedSubscriber(Subscriber):
    """A subscriber on the pusher Service whose reconnects go through a fresh port-forward
    when the pod behind the old one is gone."""

    def __init__(self, kube, name):
        self.kube = kube
        super().__init__(self._url(), name)
        self.close_codes = []

    def _url(self):
        return f"ws://127.0.0.1:{self.kube.forward(f'{FULL}-pusher', 8703)}/ws"

    def connect(self, deadline_s=120):
        def attempt():
            self.url = self._url()
            try:
                return self.connect_once()
            except Exception:
                # The pod behind this forward may be gone: the next attempt opens a new one.
                self.kube.drop_forward(f"{FULL}-pusher", 8703)
                raise
        wait_until(attempt, f"{self.name}: (re)subscribe through the pusher Service", deadline_s)

    def read_until(self, ids, deadline_s=180, resume=True):
        from websockets.exceptions import ConnectionClosed
        want = set(ids)
        deadline = time.monotonic() + deadline_s
        while not want <= set(self.ids()):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{self.name}: missing {sorted(want - set(self.ids()))}")
            try:
                f = json.loads(self.conn.recv(timeout=min(left, 5)))
            except TimeoutError:
                continue
            except (ConnectionClosed, OSError) as e:
                code = getattr(getattr(e, "rcvd", None), "code", None)
                self.close_codes.append(code)
                if not resume:
                    pytest.fail(f"{self.name}: connection lost: {e}")
                log(f"{self.name}: closed ({code}); resuming from {self.last}")
                self.reconnects += 1
                self.connect()
                continue
            if f.get("type") == "change":
                self._take(f)


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    env = harness_env()
    run(["bash", str(HARNESS / "kube.sh"), "start"], env=env, timeout=900)
    run(["bash", str(HARNESS / "kube.sh"), "import", *IMAGES], env=env, timeout=900)
    k = Kube(tmp_path_factory.mktemp("kube"))
    run(["kubectl", "create", "namespace", NS], env=k.env)
    try:
        backing = (REPO / "tests/deploy/k8s/backing.yaml").read_text()
        k.kubectl("apply", "-f", "-", input=backing.replace("__KAFKA_DATA__", KAFKA_DATA))
        k.wait_pods_ready("app in (postgres,kafka)", 2, "PostgreSQL and Kafka pods Ready")
        yield k
    finally:
        k.stop_forwards()
        for p in k.pods():
            r = k.kubectl("logs", p["metadata"]["name"], "--all-containers", "--tail", "200",
                          check=False)
            log_dir = os.environ.get("MC_DEPLOY_CACHE", "/var/cache/modelcast-deploy") + "/logs/kube"
            try:
                with open(f"{log_dir}/{NS}-{p['metadata']['name']}.log", "w") as f:
                    f.write(r.stdout + r.stderr)
            except OSError:
                pass
        run(["helm", "uninstall", RELEASE, "-n", NS, "--wait", "--timeout", "2m"], env=k.env,
            check=False)
        run(["kubectl", "delete", "namespace", NS, "--wait=true", "--timeout=120s"], env=k.env,
            check=False, timeout=200)


@pytest.fixture(scope="module")
def release(kube):
    log(f"helm install {RELEASE} into {NS}")
    kube.helm("install", RELEASE, *kube.helm_args(), "--wait", "--timeout", "8m")
    return kube


# ----------------------------------------------------------------------------- scenarios

def test_every_rendered_object_decodes_strictly_on_the_apiserver(kube):
    variants = {
        "test values": [],
        "ingress, existing secrets, no HPA": [
            "--set", "ingress.enabled=true", "--set", "pusher.hpa.enabled=false",
            "--set", "edge.enabled=false",
            "--set", "postgresql.existingSecret=pg", "--set", "jwt.existingSecret=jwt",
            "--set", "kafka.properties.security\\.protocol=PLAINTEXT",
            "--set", "image.digest=sha256:" + "0" * 64],
        "edge behind the Ingress, a JWKS, every optional setting": [
            "--set", "ingress.enabled=true", "--set", "jwt.key=", "--set",
            "jwt.jwksUrl=https://sso.example.com/certs", "--set", "jwt.issuer=https://sso.example.com",
            "--set", "jwt.audience=modelcast", "--set", "modelApi.corsOrigins=https://app.example",
            "--set", "modelApi.eventMaxBytes=2000000", "--set", "modelApi.maxBody=500000",
            "--set", "pusher.wsOrigins=https://app.example", "--set", "pusher.maxConnections=50000",
            "--set", "tracing.otlpEndpoint=http://collector:4318", "--set", "tracing.sample=0.1",
            "--set", "tracing.headersSecret.name=otlp", "--set", "tracing.headersSecret.key=h"],
    }
    for name, extra in variants.items():
        rendered = kube.helm("template", RELEASE, *kube.helm_args(), *extra).stdout
        kinds = sorted({ln.split(":", 1)[1].strip() for ln in rendered.splitlines()
                        if ln.startswith("kind:")})
        r = kube.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                         input=rendered, check=False)
        log(f"{name}: {kinds}: {r.returncode}")
        assert r.returncode == 0, f"{name}: {r.stderr[-3000:]}"


def test_chart_installed_all_pods_ready(release):
    k = release
    k.wait_pods_ready("app.kubernetes.io/component=model-api", 2, "model-api pods Ready")
    k.wait_pods_ready("app.kubernetes.io/component=authz", 2, "authz pods Ready")
    # 2 pushers: the HPA raises the Deployment to its minReplicas.
    k.wait_pods_ready("app.kubernetes.io/component=pusher", 2, "pusher pods Ready (HPA min)")
    k.wait_pods_ready("app.kubernetes.io/component=edge", 1, "edge pod Ready")
    pods = k.pods()
    log("pods: " + ", ".join(f"{p['metadata']['name']}" for p in pods))
    assert all(k.ready(p) for p in pods), [p["metadata"]["name"] for p in pods if not k.ready(p)]
    # The hook Job made the topics, with the chart's partitions.
    kafka = k.pods("app=kafka")[0]["metadata"]["name"]
    out = k.kubectl("exec", kafka, "--", "/opt/kafka/bin/kafka-topics.sh", "--bootstrap-server",
                    "localhost:9092", "--describe").stdout
    for t in ("modelcast.changes", "modelcast.deliveries", "modelcast.changes.dlq"):
        assert f"Topic: {t}\t" in out and "PartitionCount: 4" in out, out[:2000]
    # The restricted security context holds (exec and logs work through the kubelet).
    pusher = k.pods("app.kubernetes.io/component=pusher")[0]["metadata"]["name"]
    assert k.kubectl("exec", pusher, "--", "id", "-u").stdout.strip() == "10001"
    ro = k.kubectl("exec", pusher, "--", "bash", "-c", "touch /x 2>&1; echo $?").stdout
    assert ro.strip().endswith("1"), f"root filesystem writable: {ro}"
    assert "listening" in k.kubectl("logs", pusher).stdout
    # Each authz pod's instance and transactional id is its own stable pod name.
    for p in k.pods("app.kubernetes.io/component=authz"):
        env = {e["name"]: e for e in p["spec"]["containers"][0]["env"]}
        for var in ("MC_INSTANCE_ID", "MC_TRANSACTIONAL_ID"):
            assert env[var]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", var
    svc = json.loads(k.kubectl("get", "svc", f"{FULL}-authz-headless", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"] == "None"


def test_write_reaches_subscriber_through_pusher_service(release):
    k = release
    rest = Rest(f"http://127.0.0.1:{k.forward(f'{FULL}-model-api', 8701)}")
    sub = ForwardedSubscriber(k, "k8s-ws")
    sub.connect()
    try:
        rec = rest.create_word(f"k8s-{uuid.uuid4().hex[:6]}")
        sub.read_until([rec["id"]], resume=False)
        log(f"write {rec['id']} reached the subscriber at {sub.last}")
    finally:
        sub.close()


def test_edge_serves_examples_and_routes_on_one_origin(release):
    """The edge the Ingress example points at: the chart's nginx around the shared routes of
    deploy/edge/modelcast.conf, reached through its Service."""
    k = release
    port = k.forward(f"{FULL}-edge", 8080)
    base = f"http://127.0.0.1:{port}"
    rest = Rest(base)
    for path, src in (("/", "examples/index.html"), ("/client/index.js", "clients/js/src/index.js")):
        r = rest.get(path)
        assert r.status_code == 200 and r.content == (REPO / src).read_bytes(), (path, r.status_code)
    assert rest.get("/openapi.json").json().get("openapi"), "/openapi.json through the edge"
    ws = f"ws://127.0.0.1:{port}/ws"
    # A page served by the edge is same-origin for the pusher: the edge keeps the Host header.
    sub = Subscriber(ws, "edge-ws", origin=base)
    sub.connect()
    try:
        rec = rest.create_word(f"edge-{uuid.uuid4().hex[:6]}")
        sub.read_until([rec["id"]], resume=False)
    finally:
        sub.close()
    code = origin_refused_code(ws, "https://elsewhere.example")
    log(f"edge: examples, client, REST and WebSocket on {base}; another origin closed {code}")
    assert code == 4003, code


def test_rollout_restart_pushers_clients_resume_without_gap(release):
    k = release
    rest = Rest(f"http://127.0.0.1:{k.forward(f'{FULL}-model-api', 8701)}")
    subs = [ForwardedSubscriber(k, f"roll-{i}") for i in range(3)]
    for s in subs:
        s.connect()
    try:
        first = [rest.create_word(f"roll-before-{i}")["id"] for i in range(3)]
        for s in subs:
            s.read_until(first, resume=False)
        old = {p["metadata"]["name"] for p in k.pods("app.kubernetes.io/component=pusher")}
        log(f"rollout restart of the pushers {sorted(old)}")
        k.kubectl("rollout", "restart", f"deployment/{FULL}-pusher")
        during = []
        proc = subprocess.Popen(["kubectl", "-n", NS, "rollout", "status",
                                 f"deployment/{FULL}-pusher", "--timeout=5m"], env=k.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Writes while the pods are replaced: bounded in count.
        while proc.poll() is None and len(during) < 60:
            during.append(rest.create_word(f"roll-during-{len(during)}")["id"])
            for s in subs:  # keep reading, so that closes are seen as they happen
                s.read_until(during[-1:], resume=True)
        assert proc.wait(timeout=300) == 0, "rollout did not complete"
        # The old pods drain (preStop, then SIGTERM -> 1001) and go.
        wait_until(lambda: not old & {p["metadata"]["name"]
                                      for p in k.pods("app.kubernetes.io/component=pusher")},
                   "the old pusher pods gone", deadline_s=120)
        after = [rest.create_word(f"roll-after-{i}")["id"] for i in range(3)]
        for s in subs:
            s.read_until(first + during + after, resume=True)
        codes = [c for s in subs for c in s.close_codes]
        log(f"{len(during)} writes during the rollout; close codes {codes}; "
            f"resyncs {[s.resyncs for s in subs]}")
        assert codes and all(c == 1001 for c in codes), f"expected 1001 (going away): {codes}"
        for s in subs:
            ids = s.ids()
            assert len(ids) == len(set(ids)), f"{s.name}: duplicates"
            assert set(first + during + after) <= set(ids), f"{s.name}: gap"
            assert s.resyncs == 0
    finally:
        for s in subs:
            s.close()


def test_authz_pod_deleted_another_takes_over_nothing_lost(release):
    k = release
    rest = Rest(f"http://127.0.0.1:{k.forward(f'{FULL}-model-api', 8701)}")
    sub = ForwardedSubscriber(k, "authz-ws")
    sub.connect()
    try:
        a = rest.create_word("authz-before")["id"]
        sub.read_until([a])
        victim = f"{FULL}-authz-0"
        uid = json.loads(k.kubectl("get", "pod", victim, "-o", "json").stdout)["metadata"]["uid"]
        log(f"deleting {victim}")
        k.kubectl("delete", "pod", victim, "--wait=false")
        during = [rest.create_word(f"authz-during-{i}")["id"] for i in range(10)]
        sub.read_until([a] + during, deadline_s=240)
        # The StatefulSet brings the pod back under the same name (same transactional id).
        def back():
            p = json.loads(k.kubectl("get", "pod", victim, "-o", "json", check=False).stdout or "{}")
            return p and p["metadata"]["uid"] != uid and k.ready(p)
        wait_until(back, f"{victim} recreated and Ready", deadline_s=240)
        after = [rest.create_word(f"authz-after-{i}")["id"] for i in range(5)]
        sub.read_until([a] + during + after, deadline_s=180)
        ids = sub.ids()
        log(f"authz failover: {len(during)} writes during, {len(after)} after; all arrived once")
        assert len(ids) == len(set(ids)), f"duplicates: {ids}"
    finally:
        sub.close()


def test_model_api_stays_ready_while_kafka_is_down(release):
    """Readiness means "can serve": with Kafka scaled to 0, writes still succeed (the outbox
    holds them), /readyz is 200 "degraded" naming Kafka, and every model-api pod stays Ready,
    in its Service; the write arrives once Kafka is back (its data is kept)."""
    k = release
    rest = Rest(f"http://127.0.0.1:{k.forward(f'{FULL}-model-api', 8701)}")
    sub = ForwardedSubscriber(k, "kafka-down-ws")
    sub.connect()
    try:
        k.kubectl("scale", "deployment/kafka", "--replicas=0")
        wait_until(lambda: not k.pods("app=kafka"), "Kafka pod gone")
        y = wait_until(lambda: rest.create_word("while-kafka-down"), "a write while Kafka is down")

        def degraded():
            r = rest.get("/readyz")
            b = r.json()
            return b.get("kafka") == "unreachable" and (r.status_code, b)
        status, body = wait_until(degraded, "/readyz names Kafka unreachable")
        log(f"/readyz while Kafka is down: {status} {body['status']} {body['degraded']}")
        assert status == 200 and body["status"] == "degraded", (status, body)
        for p in k.pods("app.kubernetes.io/component=model-api"):
            assert k.ready(p), f"{p['metadata']['name']} not Ready while only Kafka is down"
        k.kubectl("scale", "deployment/kafka", "--replicas=1")
        k.wait_pods_ready("app=kafka", 1, "Kafka back")
        sub.read_until([y["id"]], deadline_s=300)
        z = rest.create_word("after-kafka")
        sub.read_until([z["id"]], deadline_s=180)
        ids = sub.ids()
        assert len(ids) == len(set(ids)), f"duplicates {ids}"
        log(f"the write made while Kafka was down arrived after it came back; resyncs {sub.resyncs}")
    finally:
        k.kubectl("scale", "deployment/kafka", "--replicas=1", check=False)
        sub.close()


def test_fenced_authz_exits_and_is_restarted(release):
    """A twin with authz-1's id (transactional id and group.instance.id) fences it: authz-1
    exits 1 (its /healthz fails too) and the kubelet restarts the container; the restarted one
    fences the twin in turn (restartPolicy Never: it stays down); changes keep arriving."""
    k = release
    victim = f"{FULL}-authz-1"
    rest = Rest(f"http://127.0.0.1:{k.forward(f'{FULL}-model-api', 8701)}")
    sub = ForwardedSubscriber(k, "fence-ws")
    sub.connect()
    pod = json.loads(k.kubectl("get", "pod", victim, "-o", "json").stdout)
    before = pod["status"]["containerStatuses"][0]["restartCount"]
    twin = json.loads(json.dumps(pod))
    twin["metadata"] = {"name": "authz-twin", "namespace": NS}
    for key in ("nodeName", "hostname", "subdomain"):
        twin["spec"].pop(key, None)
    twin["spec"]["restartPolicy"] = "Never"
    twin.pop("status", None)
    for e in twin["spec"]["containers"][0]["env"]:
        if e["name"] == "MC_TRANSACTIONAL_ID":
            e.pop("valueFrom", None)
            e["value"] = victim
    k.kubectl("apply", "-f", "-", input=json.dumps(twin))
    try:
        def restarted():
            p = json.loads(k.kubectl("get", "pod", victim, "-o", "json").stdout)
            cs = p["status"]["containerStatuses"][0]
            return cs["restartCount"] > before and cs
        cs = wait_until(restarted, f"{victim} restarted after being fenced", deadline_s=300)
        last = cs.get("lastState", {}).get("terminated", {})
        log(f"{victim}: restarts {before} -> {cs['restartCount']}, last exit "
            f"{last.get('exitCode')} ({last.get('reason')})")
        assert last.get("exitCode") == 1, cs

        def twin_done():
            p = json.loads(k.kubectl("get", "pod", "authz-twin", "-o", "json").stdout)
            return p["status"].get("phase") in ("Failed", "Succeeded") and p
        p = wait_until(twin_done, "the twin fenced in turn by the restarted authz-1",
                       deadline_s=180)
        code = p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
        log(f"the twin exited {code}")
        assert code == 1
        k.wait_pods_ready("app.kubernetes.io/component=authz", 2, "both authz Ready again")
        w = rest.create_word("after-fencing")
        sub.read_until([w["id"]], deadline_s=180)
        ids = sub.ids()
        assert len(ids) == len(set(ids)), f"duplicates {ids}"
    finally:
        sub.close()
        k.kubectl("delete", "pod", "authz-twin", "--wait=false", check=False)
