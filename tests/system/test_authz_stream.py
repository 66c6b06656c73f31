"""authz under failure: killing an authz instance mid-stream loses and duplicates nothing.

A private stack (postgres, kafka, model-api, authz) plus a second authz started here, both in
the consumer group `modelcast-authz`. A background thread writes Dictionary records over REST
(creates and updates); while it runs, the stack's authz gets SIGKILL with a transaction open.
The survivor takes over its partitions (consumer-group rebalance), the killed one is started
again with the same transactional.id (which fences and aborts its open transaction), and in
the end modelcast.deliveries, read with isolation.level=read_committed from the beginning,
must hold for every change event exactly one delivery to `Application` (the shipped policies
send every Dictionary change there): none missing, none duplicated.

Every wait polls with a deadline; the test asserts no timing.
"""

import collections
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
import requests
from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from conftest import free_ports, pid_alive, start_stack

CHANGES = "modelcast.changes"
DELIVERIES = "modelcast.deliveries"
GROUP = "modelcast-authz"
CHANNEL = "Application"
MODEL = "Dictionary"
WRITES = 2000           # REST writes in all (creates and updates)
WRITERS = 2             # writer threads
KILL_AFTER = 600        # successful writes before the kill
HTTP_TIMEOUT = 15
DEADLINE_S = 120
# Short consumer-group sessions so the survivor takes over seconds after the kill (the
# broker's group.min.session.timeout.ms is 6 s); every MC_KAFKA_* goes to librdkafka.
KAFKA_ENV = {"MC_KAFKA_SESSION_TIMEOUT_MS": "6000", "MC_KAFKA_HEARTBEAT_INTERVAL_MS": "1000"}


def wait_until(predicate, what, deadline_s=DEADLINE_S, interval=0.1):
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not true within {deadline_s}s (last: {last!r})")
        time.sleep(interval)


def metrics(url):
    """{name: value} of the unlabelled metrics at url/metrics; {} when unreachable."""
    try:
        r = requests.get(url + "/metrics", timeout=5)
    except requests.RequestException:
        return {}
    out = {}
    for line in r.text.splitlines() if r.status_code == 200 else ():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def ready(url):
    try:
        return requests.get(url + "/readyz", timeout=3).status_code == 200
    except requests.RequestException:
        return False


# ------------------------------------------------------------------------------ the stack

class SecondAuthz:
    """Another authz process on the stack's Kafka: same binary and files, its own HTTP port,
    transactional.id and log ($MC_VAR/log/authz-2.log, attached to failures)."""

    def __init__(self, stack):
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        pid = stack.pid("authz")
        assert pid, "the stack's authz is not running"
        # The running instance's environment (as deploy/local/up made it) and binary.
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(item.decode().split("=", 1) for item in f.read().split(b"\0") if b"=" in item)
        self.exe = os.readlink(f"/proc/{pid}/exe")
        env["MC_HTTP_PORT"] = str(self.port)
        env["MC_TRANSACTIONAL_ID"] = f"modelcast-authz-test-2-{uuid.uuid4().hex[:8]}"
        stack.extra_logs.append("authz-2")
        with open(stack.log_path("authz-2"), "ab") as log:
            self.proc = subprocess.Popen([self.exe], env=env, cwd=str(stack.var_dir),
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)


@pytest.fixture(scope="module")
def authz_stack(tmp_path_factory):
    """postgres, kafka, model-api; then authz with short group sessions (deploy/local/up
    passes the stack's environment to the services)."""
    s = start_stack(tmp_path_factory.mktemp("var"), components=("postgres", "kafka", "model-api"))
    try:
        s.env.update(KAFKA_ENV)
        s.extra_logs.append("authz")
        s.up("authz")
    except BaseException:
        s.stop()
        raise
    yield s
    s.stop()


@pytest.fixture
def second_authz(authz_stack):
    a = SecondAuthz(authz_stack)
    try:
        wait_until(lambda: ready(a.url) or a.proc.poll() is not None, "second authz /readyz or exit", 60)
        assert a.proc.poll() is None, f"second authz exited with {a.proc.returncode} (see authz-2.log)"
        yield a
    finally:
        a.stop()


# -------------------------------------------------------------------------------- Kafka

def group_members(admin):
    """{member client host:id: number of partitions of modelcast.changes} of the authz group
    when it is Stable, else None."""
    try:
        desc = admin.describe_consumer_groups([GROUP], request_timeout=10)[GROUP].result(15)
    except KafkaException:
        return None
    if str(desc.state).split(".")[-1].upper() != "STABLE":
        return None
    out = {}
    for m in desc.members:
        parts = m.assignment.topic_partitions if m.assignment else []
        out[m.member_id] = sum(1 for tp in parts if tp.topic == CHANGES)
    return out


def read_topic(bootstrap, topic, done, what, deadline_s=DEADLINE_S, isolation="read_committed"):
    """Reads topic from the beginning (fresh group, read_committed) until done(messages) is
    true, then on to the end of every partition (for read_committed: the last stable offset);
    returns every message read (value, headers decoded)."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"mc-test-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    msgs, at_eof, assigned = [], set(), set()

    def on_assign(consumer, parts):
        assigned.update(p.partition for p in parts)
    c.subscribe([topic], on_assign=on_assign)
    deadline = time.monotonic() + deadline_s
    satisfied = False
    try:
        while True:
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not complete within {deadline_s}s ({len(msgs)} messages read, "
                            f"done={satisfied}, at end: {sorted(at_eof)} of {sorted(assigned)})")
            m = c.poll(0.5)
            if m is None:
                pass
            elif m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_eof.add(m.partition())
                else:
                    raise KafkaException(m.error())
            else:
                at_eof.discard(m.partition())
                msgs.append({"partition": m.partition(), "offset": m.offset(),
                             "key": m.key().decode() if m.key() else None,
                             "headers": {k: v.decode() if v is not None else None
                                         for k, v in (m.headers() or [])},
                             "value": json.loads(m.value())})
            if not satisfied:
                satisfied = bool(done(msgs))
            if satisfied and assigned and at_eof >= assigned:
                return msgs
    finally:
        c.close()


# -------------------------------------------------------------------------------- the test

def test_kill9_authz_mid_stream_loses_and_duplicates_nothing(authz_stack, second_authz):
    stack = authz_stack
    urls = {"authz": stack.authz_url, "authz-2": second_authz.url}
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})

    # Both instances own partitions before the load starts.
    wait_until(lambda: (g := group_members(admin)) and len(g) == 2 and all(g.values()) and g,
               "authz group Stable with 2 members, each with partitions", 90)

    tag = f"t{uuid.uuid4().hex[:10]}"
    stats = {"ok": 0, "creates": 0, "updates": 0, "errors": 0}
    lock = threading.Lock()
    failures = []

    def writer(n):
        s = requests.Session()
        ids = []
        for i in range(WRITES // WRITERS):
            if i % 4 == 3 and ids:   # every 4th write updates one of this writer's records
                rec_id = ids[(i * 7) % len(ids)]
                r = s.patch(f"{stack.api_url}/v1/{MODEL}/{rec_id}",
                            json={"definition": f"d{i}"}, timeout=HTTP_TIMEOUT)
                ok, kind = r.status_code == 200, "updates"
            else:
                r = s.post(f"{stack.api_url}/v1/{MODEL}", json={"word": f"{tag}-{n}-{i}"},
                           timeout=HTTP_TIMEOUT)
                ok, kind = r.status_code == 201, "creates"
                if ok:
                    ids.append(r.json()["id"])
            with lock:
                if ok:
                    stats["ok"] += 1
                    stats[kind] += 1
                else:
                    stats["errors"] += 1
                    stats["last_error"] = f"{r.status_code} {r.text[:200]}"

    def run(n):
        try:
            writer(n)
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e)[:300])

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(WRITERS)]
    for t in threads:
        t.start()
    try:
        # Mid-stream: both instances have transformed changes, writes go on.
        wait_until(lambda: stats["ok"] >= KILL_AFTER or not any(t.is_alive() for t in threads),
                   f"{KILL_AFTER} writes before the kill", 120)
        wait_until(lambda: all(metrics(u).get("modelcast_authz_changes_in_total", 0) > 0
                               for u in urls.values()),
                   "both authz instances have read changes", 60)
        writes_at_kill = stats["ok"]
        read_by_killed = metrics(stack.authz_url).get("modelcast_authz_changes_in_total", 0)
        killed = stack.kill9("authz")
        assert not pid_alive(killed)
        # The survivor takes every partition over (rebalance after the session timeout).
        nparts = len(admin.list_topics(CHANGES, timeout=10).topics[CHANGES].partitions)
        wait_until(lambda: (g := group_members(admin)) and list(g.values()) == [nparts] and g,
                   f"the survivor alone in the group with all {nparts} partitions", 60)
        in_before = metrics(second_authz.url).get("modelcast_authz_changes_in_total", 0)
        # The killed one comes back under its transactional.id: its open transaction is aborted.
        stack.up("authz")
        wait_until(lambda: metrics(second_authz.url).get("modelcast_authz_changes_in_total", 0) > in_before
                   or not any(t.is_alive() for t in threads),
                   "the survivor goes on transforming", 60)
    finally:
        for t in threads:
            t.join(300)
    assert not failures, f"writers failed: {failures} {stats}"
    assert not any(t.is_alive() for t in threads), f"writers did not finish: {stats}"
    assert stats["errors"] == 0, f"writes failed: {stats}"
    assert writes_at_kill < stats["ok"], f"the kill was not mid-stream: {writes_at_kill} of {stats}"
    total_writes = stats["ok"]

    # Every change event of this test's records, from modelcast.changes (at-least-once: a
    # re-published event keeps its ce_id, and authz transforms each message once).
    def tagged(m):
        v = m["value"]
        rec = v.get("after") or v.get("before") or {}
        return v.get("model") == MODEL and str(rec.get("word", "")).startswith(tag + "-")

    def all_changes(msgs):
        return len({m["headers"].get("ce_id") for m in msgs if tagged(m)}) >= total_writes
    changes = [m for m in read_topic(stack.kafka_bootstrap, CHANGES, all_changes,
                                     f"{total_writes} change events on {CHANGES}") if tagged(m)]
    per_ce = collections.Counter(m["headers"].get("ce_id") for m in changes)
    assert None not in per_ce, "a change event without ce_id"
    assert len(per_ce) == total_writes, (
        f"distinct change events {len(per_ce)} != successful writes {total_writes} ({stats})")
    events = dict(per_ce)  # ce_id -> times on modelcast.changes (1 unless the relay republished)

    # Deliveries, read_committed from the beginning, until every expected one is there.
    def all_deliveries(msgs):
        got = {m["value"].get("event_id") for m in msgs if m["value"].get("channel") == CHANNEL}
        return all(e in got for e in events)
    deliveries = read_topic(stack.kafka_bootstrap, DELIVERIES, all_deliveries,
                            f"a delivery to {CHANNEL} for each of {len(events)} change events",
                            deadline_s=180)
    counts = collections.Counter((m["value"].get("event_id"), m["value"].get("channel"))
                                 for m in deliveries if m["value"].get("event_id") in events)
    missing = [e for e in events if counts[(e, CHANNEL)] == 0]
    dupes = {e: counts[(e, CHANNEL)] for e in events if counts[(e, CHANNEL)] > events[e]}
    other = {k: n for k, n in counts.items() if k[1] != CHANNEL}
    # The same topic as read_uncommitted also shows what the killed transaction had written.
    raw = read_topic(stack.kafka_bootstrap, DELIVERIES, lambda msgs: True, "deliveries (read_uncommitted)",
                     isolation="read_uncommitted")
    in_log = sum(1 for m in raw if m["value"].get("event_id") in events)
    m2 = {name: {k: v for k, v in metrics(u).items() if k.startswith("modelcast_authz_")}
          for name, u in urls.items()}
    summary = (f"{len(events)} change events ({sum(events.values())} messages, writes {stats}, "
               f"kill after {writes_at_kill}); {len(deliveries)} committed deliveries read, "
               f"{sum(counts.values())} for these events; missing {len(missing)}, duplicated "
               f"{len(dupes)}; in the log (read_uncommitted) {in_log}, i.e. {in_log - sum(counts.values())} "
               f"aborted; the killed instance had read {read_by_killed:.0f} changes; authz metrics {m2}")
    print(summary)
    assert not missing, f"deliveries missing: {summary}; first: {missing[:10]}"
    assert not dupes, f"deliveries duplicated: {summary}; first: {list(dupes.items())[:10]}"
    assert not other, f"deliveries to channels other than {CHANNEL}: {summary}; {list(other.items())[:10]}"
    for m in deliveries:
        v = m["value"]
        if v.get("event_id") in events:
            assert m["key"] == CHANNEL and v["model"] == MODEL and v["op"] in ("create", "update"), (
                f"bad delivery {m}")
    # The kill left an aborted (or timed-out) transaction behind at most; the group moved on.
    assert sum(events.values()) == sum(counts.values()), summary
