"""docker compose, run for real: docker-compose.yml with its own images (stand-ins for the two
public ones), three pushers behind the nginx edge, two authz. Everything goes through the edge,
the only published port, as a user's browser would.

Scenarios (issue 10): all healthy; the image non-root, with a health check, labels and no
build tools; a write through the edge reaches a WebSocket client through
the edge and the change topic; a pusher killed -> its clients resume through the edge with no
gap; `down`/`up` keeps PostgreSQL and Kafka data and a resume from an old position works;
Kafka restarted -> the services recover (and a write made while it was down arrives), model-api
ready ("degraded") meanwhile; an authz fenced by a twin with its id exits 1 and is restarted by
its restart policy. The edge keeps the Host header, so a page it serves may open the WebSocket
(same origin) and a page of another origin may not (4003).
"""

import json
import os
import re
import secrets
import signal
import uuid

import pytest

from deploy_lib import (DEADLINE_S, REPO, Rest, Subscriber, free_port, harness_env, log,
                        origin_refused_code, run, wait_until)

PUSHERS = 3
PROJECT = f"mcdeploy{uuid.uuid4().hex[:8]}"
LOGS = os.environ.get("MC_DEPLOY_LOGS", os.environ.get("MC_DEPLOY_CACHE", "/var/cache/modelcast-deploy")
                      + "/logs")


class Compose:
    def __init__(self, tmp):
        self.env = harness_env()
        self.env.update(DOCKER_BUILDKIT="0", COMPOSE_BAKE="false", COMPOSE_PROGRESS="plain")
        self.port = free_port()
        self.jwt_key = secrets.token_urlsafe(48)
        self.envfile = tmp / "compose.env"
        self.envfile.write_text(
            f"POSTGRES_PASSWORD={secrets.token_urlsafe(16)}\nMC_JWT_KEY={self.jwt_key}\n"
            f"MC_EDGE_BIND=127.0.0.1\nMC_EDGE_PORT={self.port}\n")
        self.base = ["docker", "compose", "-p", PROJECT, "--env-file", str(self.envfile),
                     "-f", str(REPO / "docker-compose.yml"),
                     "-f", str(REPO / "tests" / "deploy" / "compose.test.yml")]
        self.edge = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ws"

    def __call__(self, *args, check=True, timeout=1500):
        return run(self.base + list(args), check=check, timeout=timeout, env=self.env,
                   cwd=str(REPO))

    def docker(self, *args, check=True):
        return run(["docker", *args], check=check, env=self.env)

    def up(self):
        log(f"compose up ({PROJECT}, edge {self.edge}, {PUSHERS} pushers)")
        self("up", "-d", "--build", "--scale", f"pusher={PUSHERS}", "--wait",
             "--wait-timeout", "900")

    def containers(self):
        out = self("ps", "-a", "--format", "json").stdout.strip()
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def ids(self, service):
        return self("ps", "-q", service).stdout.split()

    def inspect(self, cid):
        return json.loads(self.docker("inspect", cid).stdout)[0]

    def exec(self, service, *cmd, check=True):
        return self("exec", "-T", service, *cmd, check=check)

    def unhealthy(self):
        bad = []
        for c in self.containers():
            svc, state, health = c["Service"], c["State"], c.get("Health", "")
            if svc == "kafka-topics":
                if not (state == "exited" and c.get("ExitCode") == 0):
                    bad.append(f"{c['Name']} {state} {c.get('ExitCode')}")
            elif state != "running" or health != "healthy":
                bad.append(f"{c['Name']} {state} {health}")
        return bad

    def wait_all_healthy(self, what):
        def ok():
            bad = self.unhealthy()
            if bad:
                raise AssertionError(f"not healthy: {bad}")
            return True
        wait_until(ok, what, deadline_s=300)

    def hard_kill(self, cid):
        """A crash: SIGKILL to the container's main process from the host (not `docker kill`,
        which counts as a manual stop), so the restart policy applies."""
        pid = self.inspect(cid)["State"]["Pid"]
        os.kill(pid, signal.SIGKILL)

    def http_get(self, cid, port, path):
        """GET path from the service inside container cid (the edge routes neither /metrics
        nor /readyz): (status, body)."""
        script = (f"exec 3<>/dev/tcp/127.0.0.1/{port}; "
                  f"printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3")
        out = self.docker("exec", cid, "bash", "-c", script).stdout
        # (text mode: the CRLFs arrive as plain newlines)
        head, body = re.split(r"\r?\n\r?\n", out, maxsplit=1)
        return int(head.split()[1]), body

    def metrics(self, cid, port):
        return self.http_get(cid, port, "/metrics")[1]

    def save_logs(self):
        os.makedirs(LOGS, exist_ok=True)
        r = self("logs", "--no-color", "--timestamps", check=False)
        with open(os.path.join(LOGS, f"compose-{PROJECT}.log"), "w") as f:
            f.write(r.stdout + r.stderr)


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    c = Compose(tmp_path_factory.mktemp("compose"))
    try:
        c.up()
        yield c
    finally:
        c.save_logs()
        log("compose down -v")
        c("down", "-v", "--remove-orphans", "--timeout", "20", check=False)


def connections_of(text):
    total = 0
    for m in re.finditer(r"^(?:modelcast_)?pusher_connections(?:\{[^}]*\})? (\d+)", text, re.M):
        total += int(m.group(1))
    return total


# ----------------------------------------------------------------------------- scenarios

def test_up_all_healthy_and_only_the_edge_published(compose):
    compose.wait_all_healthy("every service healthy after up")
    cs = compose.containers()
    services = sorted(c["Service"] for c in cs)
    log(f"containers: {services}")
    assert services.count("pusher") == PUSHERS
    for s in ("postgres", "kafka", "kafka-topics", "model-api", "authz-1", "authz-2", "edge"):
        assert s in services, f"{s} missing from {services}"
    published = {c["Service"] for c in cs for p in (c.get("Publishers") or [])
                 if p.get("PublishedPort")}
    assert published == {"edge"}, f"published ports on {published}, expected the edge only"
    # Restart policies: every long-running container restarts by itself.
    for c in cs:
        policy = compose.inspect(c["ID"])["HostConfig"]["RestartPolicy"]["Name"]
        want = "on-failure" if c["Service"] == "kafka-topics" else "unless-stopped"
        assert policy == want, f"{c['Name']}: restart policy {policy!r}"
    # Kafka writes into its volume (log.dirs), not into the container's /tmp.
    ls = compose.exec("kafka", "ls", "/var/lib/kafka/data").stdout.split()
    assert "modelcast.changes-0" in ls and "meta.properties" in ls, ls
    mounts = compose.inspect(compose.ids("kafka")[0])["Mounts"]
    assert any(m["Destination"] == "/var/lib/kafka/data" and m["Type"] == "volume"
               for m in mounts), mounts


def test_image_non_root_with_healthcheck_labels_and_runtime_libraries_only(compose):
    """The image compose built from deploy/docker/Dockerfile (its build stage ran the unit
    tests): numeric non-root user, a HEALTHCHECK, OCI labels, no compiler or -dev package."""
    image = compose.inspect(compose.ids("model-api")[0])["Config"]["Image"]
    cfg = json.loads(compose.docker("image", "inspect", image).stdout)[0]["Config"]
    assert cfg["User"] == "10001:10001", cfg["User"]
    assert cfg["Healthcheck"]["Test"][:2] == ["CMD", "modelcast-healthcheck"], cfg["Healthcheck"]
    labels = cfg["Labels"] or {}
    for k in ("title", "version", "revision", "created", "base.name"):
        assert labels.get(f"org.opencontainers.image.{k}"), (k, labels)
    pkgs = compose.docker("run", "--rm", "--network", "none", image,
                          "dpkg-query", "-W", "-f", "${Package}\n").stdout.split()
    dev = [p for p in pkgs if p.endswith("-dev") or p in ("gcc", "cmake", "ninja-build", "make")]
    log(f"image {image}: user {cfg['User']}, {len(pkgs)} packages, "
        f"base {labels['org.opencontainers.image.base.name']}")
    assert not dev, f"build tools in the final image: {dev}"
    assert "librdkafka1" in pkgs and "libpq5" in pkgs, "runtime libraries missing"


def test_two_authz_with_distinct_stable_transactional_ids(compose):
    tids, iids = [], []
    for svc in ("authz-1", "authz-2"):
        env = compose.inspect(compose.ids(svc)[0])["Config"]["Env"]
        tids += [e.split("=", 1)[1] for e in env if e.startswith("MC_TRANSACTIONAL_ID=")]
        iids += [e.split("=", 1)[1] for e in env if e.startswith("MC_INSTANCE_ID=")]
    assert sorted(tids) == ["modelcast-authz-1", "modelcast-authz-2"], tids
    assert sorted(iids) == ["authz-1", "authz-2"], iids

    def members():
        r = compose.exec("kafka", "/opt/kafka/bin/kafka-consumer-groups.sh", "--bootstrap-server",
                         "localhost:9092", "--describe", "--group", "modelcast-authz", "--members",
                         check=False)
        rows = [ln for ln in r.stdout.splitlines() if ln.startswith("modelcast-authz ")]
        return len(rows) == 2 and rows
    rows = wait_until(members, "both authz in the consumer group (neither fenced)")
    log(f"authz group members: {len(rows)}")
    # Neither was fenced by the other: both still running, never restarted.
    for svc in ("authz-1", "authz-2"):
        st = compose.inspect(compose.ids(svc)[0])
        assert st["State"]["Running"] and st["RestartCount"] == 0, (svc, st["State"])


def test_write_through_edge_reaches_websocket_through_edge(compose):
    rest = Rest(compose.edge)
    sub = Subscriber(compose.ws, "ws-1")
    sub.connect()
    try:
        rec = rest.create_word(f"compose-{uuid.uuid4().hex[:8]}")
        sub.read_until([rec["id"]], resume=False)
        f = [c for c in sub.changes if c["id"] == rec["id"]][0]
        log(f"write {rec['id']} arrived at {f['position']} ({f['op']})")
        assert f["op"] == "create" and f["attributes"]["word"] == rec["word"]
    finally:
        sub.close()
    # The edge serves the examples (or its placeholder page where examples/ is not there yet).
    examples = REPO / "examples"
    files = sorted(p for p in examples.rglob("*") if p.is_file()) if examples.is_dir() else []
    path = "/" + str(files[0].relative_to(examples)) if files else "/site.txt"
    r = rest.get(path)
    assert r.status_code == 200, f"GET {path} from the edge: {r.status_code}"
    if files:
        assert r.content == files[0].read_bytes()


def test_edge_keeps_host_so_its_pages_may_open_the_websocket(compose):
    # A page the edge serves connects with Origin = the edge's own origin: the pusher compares
    # it with the Host header the edge passes on (proxy_set_header Host $http_host).
    assert origin_refused_code(compose.ws, compose.edge) is None, "same-origin page refused"
    code = origin_refused_code(compose.ws, "https://elsewhere.example")
    log(f"WebSocket from the edge's origin: subscribed; from another origin: closed {code}")
    assert code == 4003, f"a page of another origin got {code}, expected 4003"


def test_pusher_killed_clients_resume_through_edge_without_gap(compose):
    rest = Rest(compose.edge)
    subs = [Subscriber(compose.ws, f"ws-{i}") for i in range(2 * PUSHERS)]
    try:
        for s in subs:
            s.connect()
        before = [rest.create_word(f"before-{i}")["id"] for i in range(5)]
        for s in subs:
            s.read_until(before, resume=False)
        # The pusher holding the most of our clients is the one that crashes.
        load = {cid: connections_of(compose.metrics(cid, 8703)) for cid in compose.ids("pusher")}
        victim = max(load, key=load.get)
        log(f"pusher connections {sorted(load.values())}; killing {victim[:12]} "
            f"({load[victim]} clients)")
        assert load[victim] >= 1, load
        compose.hard_kill(victim)
        after = [rest.create_word(f"after-{i}")["id"] for i in range(10)]
        for s in subs:
            s.read_until(before + after, resume=True)
        moved = [s.name for s in subs if s.reconnects]
        log(f"resumed through the edge: {moved}; resyncs {[s.resyncs for s in subs]}")
        assert len(moved) >= 1, "no client was on the killed pusher"
        for s in subs:
            ids = s.ids()
            assert len(ids) == len(set(ids)), f"{s.name}: duplicates {ids}"
            assert set(before + after) <= set(ids), f"{s.name}: gap"
            assert s.resyncs == 0, f"{s.name}: resync although Kafka holds every position"
        # The crashed pusher comes back by its restart policy.
        wait_until(lambda: compose.inspect(victim)["RestartCount"] >= 1 and
                   compose.inspect(victim)["State"].get("Health", {}).get("Status") == "healthy",
                   "the killed pusher restarted and healthy", deadline_s=180)
    finally:
        for s in subs:
            s.close()


def test_down_up_keeps_postgres_and_kafka_data(compose):
    rest = Rest(compose.edge)
    sub = Subscriber(compose.ws, "ws-old")
    sub.connect()
    a = rest.create_word("kept-a")
    sub.read_until([a["id"]], resume=False)
    pos_a = sub.last
    b = rest.create_word("kept-b")
    sub.read_until([b["id"]], resume=False)
    sub.close()
    log(f"a={a['id']} at {pos_a}; compose down (volumes kept), then up")
    compose("down", "--timeout", "20")
    compose.up()
    compose.wait_all_healthy("every service healthy after down/up")
    r = wait_until(lambda: (lambda r: r.status_code == 200 and r)(rest.get_word(a["id"])),
                   "the record written before down is still there")
    assert r.json()["word"] == "kept-a"
    old = Subscriber(compose.ws, "ws-resume-old")
    old.last = pos_a           # resume from a position taken before `down`
    old.connect()
    try:
        old.read_until([b["id"]], resume=False)
        log(f"resume from {pos_a} after down/up replayed {old.ids()}; resyncs {old.resyncs}")
        assert old.resyncs == 0, "Kafka lost the position across down/up (data not in volume?)"
        assert a["id"] not in old.ids(), "replayed a change at or before since"
    finally:
        old.close()


def test_kafka_restart_services_recover(compose):
    rest = Rest(compose.edge)
    sub = Subscriber(compose.ws, "ws-kafka")
    sub.connect()
    kafka_stopped = False
    try:
        x = rest.create_word("kafka-before")
        sub.read_until([x["id"]])
        log("stopping kafka")
        kafka_stopped = True
        compose("stop", "--timeout", "30", "kafka")
        # Writes still succeed while Kafka is down: the outbox holds the change.
        y = wait_until(lambda: rest.create_word("kafka-down"), "a write while Kafka is down")
        # model-api stays ready (it can serve) and says why it is degraded.
        api = compose.ids("model-api")[0]

        def degraded():
            status, body = compose.http_get(api, 8701, "/readyz")
            b = json.loads(body)
            return b.get("kafka") == "unreachable" and (status, b)
        status, body = wait_until(degraded, "model-api's /readyz names Kafka unreachable")
        log(f"/readyz while Kafka is down: {status} {body['status']} {body['degraded']}")
        assert status == 200 and body["status"] == "degraded", (status, body)
        log(f"write {y['id']} accepted while Kafka was down; starting kafka")
        compose("start", "kafka")
        kafka_stopped = False
        sub.read_until([y["id"]], deadline_s=300)
        z = rest.create_word("kafka-after")
        sub.read_until([z["id"]], deadline_s=DEADLINE_S)
        ids = sub.ids()
        assert len(ids) == len(set(ids)), f"duplicates {ids}"
        compose.wait_all_healthy("every service healthy after Kafka came back")
        log(f"after the Kafka restart: {ids[-3:]} arrived, reconnects {sub.reconnects}")
    finally:
        sub.close()
        if kafka_stopped:  # the scenarios after this one need it
            compose("start", "kafka", check=False)


def test_authz_fenced_by_a_twin_exits_and_is_restarted(compose):
    """A second authz with authz-1's id (transactional id and group.instance.id) fences it:
    authz-1 exits 1 at once and its restart policy brings it back, which in turn fences the
    twin (it exits 1 too: it has no restart policy); changes keep arriving."""
    rest = Rest(compose.edge)
    sub = Subscriber(compose.ws, "ws-fence")
    sub.connect()
    cid = compose.ids("authz-1")[0]
    restarts = compose.inspect(cid)["RestartCount"]
    image = compose.inspect(cid)["Config"]["Image"]
    twin = compose.docker("run", "-d", "--network", f"{PROJECT}_default",
                          "-e", "MC_TRANSACTIONAL_ID=modelcast-authz-1",
                          "-e", "MC_KAFKA_BOOTSTRAP_SERVERS=kafka:9092", image,
                          "modelcast-authz").stdout.strip()
    try:
        wait_until(lambda: compose.inspect(cid)["RestartCount"] > restarts,
                   "authz-1 fenced by the twin -> exited and restarted", deadline_s=180)
        st = wait_until(lambda: (lambda t: not t["State"]["Running"] and t)(compose.inspect(twin)),
                        "the twin fenced in turn by the restarted authz-1", deadline_s=180)
        log(f"authz-1 restarted ({compose.inspect(cid)['RestartCount'] - restarts}x); "
            f"the twin exited {st['State']['ExitCode']}")
        assert st["State"]["ExitCode"] == 1, st["State"]
        compose.wait_all_healthy("every service healthy after the fencing")
        w = rest.create_word("after-fencing")
        sub.read_until([w["id"]], deadline_s=180)
        ids = sub.ids()
        assert len(ids) == len(set(ids)), f"duplicates {ids}"
    finally:
        sub.close()
        compose.docker("rm", "-f", twin, check=False)
