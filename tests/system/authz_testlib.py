"""Helpers of the authz system tests: more authz processes beside the stack's own, the
consumer group as the broker sees it, a paced REST writer and a read_committed watcher of
modelcast.deliveries that notes when each change arrived.

Every wait polls with a deadline; nothing sleeps a fixed time to wait for readiness.
"""

import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
import requests
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from conftest import free_ports
import mc_testlib

CHANGES = "modelcast.changes"
DELIVERIES = "modelcast.deliveries"
GROUP = "modelcast-authz"
CHANNEL = "Application"     # the shipped policies send every Dictionary change there
MODEL = "Dictionary"
HTTP_TIMEOUT = 15
DEADLINE_S = 120


def wait_until(predicate, what, deadline_s=DEADLINE_S, interval=0.1):
    """mc_testlib.wait_until with this module's longer default deadline (a rebalance)."""
    return mc_testlib.wait_until(predicate, what, deadline_s, interval)


def metrics(url):
    """{name: value} of the metrics at url/metrics; {} when unreachable."""
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


def status(url, path):
    """The HTTP status of GET url+path, or None when nothing answers."""
    try:
        return requests.get(url + path, timeout=3).status_code
    except requests.RequestException:
        return None


def ready(url):
    return status(url, "/readyz") == 200


def service_env(stack, name="authz"):
    """The environment of the stack's running service name (as deploy/local/up made it)
    and the path of its binary."""
    pid = stack.pid(name)
    assert pid, f"the stack's {name} is not running"
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(item.decode().split("=", 1) for item in f.read().split(b"\0") if b"=" in item)
    return env, os.readlink(f"/proc/{pid}/exe")


class AuthzProcess:
    """Another authz process on the stack's Kafka: the same binary, files and environment as
    the stack's authz, its own HTTP port, the given transactional id (a fresh one by default)
    and its own log ($MC_VAR/log/<log>.log, attached to failures)."""

    def __init__(self, stack, log="authz-2", txid=None, **env):
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_name = log
        self.stack = stack
        base, self.exe = service_env(stack)
        base["MC_HTTP_PORT"] = str(self.port)
        base["MC_TRANSACTIONAL_ID"] = txid or f"modelcast-authz-test-{uuid.uuid4().hex[:8]}"
        base.update({k: str(v) for k, v in env.items()})
        self.txid = base["MC_TRANSACTIONAL_ID"]
        if log not in stack.extra_logs:
            stack.extra_logs.append(log)
        with open(stack.log_path(log), "ab") as f:
            self.proc = subprocess.Popen([self.exe], env=base, cwd=str(stack.var_dir),
                                         stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, deadline_s=60):
        wait_until(lambda: ready(self.url) or self.proc.poll() is not None,
                   f"{self.log_name} /readyz or exit", deadline_s)
        assert self.proc.poll() is None, (
            f"{self.log_name} exited with {self.proc.returncode} (see {self.log_name}.log)")
        return self

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)


def stack_txid(stack):
    """The transactional id the stack's authz logged at start."""
    for line in stack.log("authz").splitlines():
        if "transactional.id and group.instance.id" in line:
            return json.loads(line)["msg"].split()[-1].rstrip(")")
    pytest.fail("the stack's authz did not log its transactional id")


# -------------------------------------------------------------------------------- Kafka

def group_members(admin):
    """{member id: number of partitions of modelcast.changes} of the authz group when it is
    Stable, else None."""
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
    """Reads topic from the beginning (fresh group) until done(messages) is true, then on to
    the end of every partition (for read_committed: the last stable offset); returns every
    message read (value, headers decoded)."""
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


class DeliveryWatcher:
    """A thread reading modelcast.deliveries (read_committed) from the current end (fixed
    when it is made), noting
    for every delivery to CHANNEL of a Dictionary record whose word starts with prefix the
    monotonic time it arrived: arrivals[word] = [t, ...]."""

    def __init__(self, bootstrap, prefix):
        self.prefix = prefix
        self.arrivals = {}
        self.lock = threading.Lock()
        self.assigned = threading.Event()
        self.stop_flag = threading.Event()
        self.error = None
        self.read = 0
        self.bootstrap = bootstrap
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"mc-test-{uuid.uuid4()}",
            "isolation.level": "read_committed", "enable.auto.commit": False,
            "fetch.wait.max.ms": 50})
        # Every partition from its last stable offset as it is now, fixed before any write
        # of the test: a delivery of a later write can only lie beyond it.
        md = self.consumer.list_topics(DELIVERIES, timeout=10)
        start = [TopicPartition(DELIVERIES, p, self.consumer.get_watermark_offsets(
            TopicPartition(DELIVERIES, p), timeout=10, cached=False)[1])
            for p in md.topics[DELIVERIES].partitions]
        self.consumer.assign(start)
        self.assigned.set()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.read = 0
        while not self.stop_flag.is_set():
            try:
                m = self.consumer.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    self.error = self.error or repr(m.error())
                    continue
                t = time.monotonic()
                self.read += 1
                v = json.loads(m.value())
                word = (v.get("attributes") or {}).get("word", "")
                if v.get("channel") == CHANNEL and v.get("model") == MODEL and \
                        str(word).startswith(self.prefix):
                    with self.lock:
                        self.arrivals.setdefault(word, []).append(t)
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.error = self.error or repr(e)

    def state(self):
        """What the watcher has seen, for a failure message."""
        return f"{self.read} deliveries read, {len(self.arrivals)} of this test's words, error {self.error}"

    def snapshot(self):
        with self.lock:
            return {w: list(ts) for w, ts in self.arrivals.items()}

    def close(self):
        self.stop_flag.set()
        self.thread.join(10)
        self.consumer.close()


class Trickle:
    """A thread creating Dictionary records over REST at about rate per second (one
    connection), noting each word's send time; stops at stop() or after max_s seconds."""

    def __init__(self, api_url, prefix, rate=20, max_s=240):
        self.api_url, self.prefix, self.rate, self.max_s = api_url, prefix, rate, max_s
        self.sent = {}      # word -> monotonic time the POST was sent (201 only)
        self.errors = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        s = requests.Session()
        t0 = time.monotonic()
        i = 0
        while not self.stop_flag.is_set() and time.monotonic() - t0 < self.max_s:
            word = f"{self.prefix}-{i}"
            t = time.monotonic()
            try:
                r = s.post(f"{self.api_url}/v1/{MODEL}", json={"word": word}, timeout=HTTP_TIMEOUT)
                if r.status_code == 201:
                    with self.lock:
                        self.sent[word] = t
                else:
                    self.errors.append(f"{r.status_code} {r.text[:200]}")
            except requests.RequestException as e:
                self.errors.append(repr(e)[:200])
            i += 1
            pause = t0 + i / self.rate - time.monotonic()
            if pause > 0:
                self.stop_flag.wait(pause)

    def count(self):
        with self.lock:
            return len(self.sent)

    def snapshot(self):
        with self.lock:
            return dict(self.sent)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(30)


def delivery_gap(sent, arrivals, t_event, settle_s=30):
    """How the deliveries of writes around t_event fared: the largest send → arrival delay of
    a write sent in [t_event - 1 s, t_event + settle_s] (max_delay_s), the same for the writes
    of the 10 s before (baseline_max_s: what the loaded machine gives anyway), and the longest
    silence between two consecutive arrivals after t_event. Seconds, rounded to ms."""
    def delays(lo, hi):
        return [arrivals[w][0] - t for w, t in sent.items() if w in arrivals and lo <= t <= hi]
    around = delays(t_event - 1, t_event + settle_s)
    base = delays(t_event - 11, t_event - 1)
    times = sorted(ts[0] for ts in arrivals.values() if t_event - 5 <= ts[0] <= t_event + settle_s + 30)
    before = [t for t in times if t <= t_event]
    after = [t for t in times if t > t_event]
    gaps = [b - a for a, b in zip(([before[-1]] if before else [t_event]) + after, after)]
    return {"max_delay_s": round(max(around), 3) if around else None,
            "baseline_max_s": round(max(base), 3) if base else None,
            "silence_s": round(max(gaps), 3) if gaps else None,
            "writes": len(around)}


def stable_offsets(bootstrap, topic=DELIVERIES):
    """{partition: (last stable offset, high watermark)}: where they differ, a transaction
    is open on that partition and read_committed readers wait at the first."""
    out = {}
    ends = {}
    for iso in ("read_committed", "read_uncommitted"):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"mc-test-{uuid.uuid4()}",
                      "isolation.level": iso})
        try:
            md = c.list_topics(topic, timeout=10)
            for p in md.topics[topic].partitions:
                ends.setdefault(p, []).append(
                    c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1])
        finally:
            c.close()
    for p, (lso, hw) in ends.items():
        out[p] = (lso, hw)
    return out


def wait_delivered(watcher, words, what, deadline_s=90):
    """Waits until every word of words has arrived at the watcher; on failure says what the
    watcher saw and where each deliveries partition's stable offset stands."""
    deadline = time.monotonic() + deadline_s
    while not all(w in watcher.snapshot() for w in words):
        if time.monotonic() > deadline:
            got = watcher.snapshot()
            missing = [w for w in words if w not in got]
            pytest.fail(f"{what}: {len(missing)} of {len(words)} not delivered within "
                        f"{deadline_s}s (first {missing[:3]}); watcher: {watcher.state()}; "
                        f"deliveries (stable offset, high watermark) per partition: "
                        f"{stable_offsets(watcher.bootstrap)}")
        time.sleep(0.2)
