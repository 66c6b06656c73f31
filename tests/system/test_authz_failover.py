"""authz failover, fencing, stalls and repeated events, against a private stack (postgres,
kafka, model-api, authz, pusher) plus a second authz started here, both in the group
`modelcast-authz` with static membership (group.instance.id = transactional id).

- A repeated change event (the same ce_id published twice, as the relay republishes after a
  crash between Kafka's acknowledgement and its outbox DELETE) is delivered once, also after
  the authz instance restarts (its window of recent ce_ids is read back from the topic).
- A consumer-only Kafka property given as MC_KAFKA_* does not make authz's producer warn.
- Under a steady trickle of REST writes: one instance SIGKILLed and not restarted (the other
  takes over), restarted cleanly, SIGKILLed and restarted at once. The test prints the gap
  each time (how long deliveries stopped) and asserts that they resume with nothing lost or
  duplicated.
- A WebSocket client while the stack's authz is stopped (SIGSTOP) and while an instance's
  transactional id is taken by a newcomer (fenced: it exits with status 1).
- The Kafka broker SIGKILLed and restarted while both instances stream a backlog: neither
  exits, every change is delivered once (run last: it restarts the module's broker).

Every wait polls with a deadline; the test asserts no timing, it prints the measurements.
"""

import collections
import json
import os
import signal
import threading
import time
import uuid

import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from websockets.sync.client import connect as ws_connect

from authz_testlib import (CHANGES, CHANNEL, DELIVERIES, MODEL, AuthzProcess, DeliveryWatcher,
                           Trickle, delivery_gap, group_members, metrics, read_topic, ready,
                           stack_txid, status, wait_delivered, wait_until)
from conftest import pid_alive, start_stack, wait_pid_gone

# Properties of one kind of client, given to both through MC_KAFKA_*: neither may warn.
KAFKA_ENV = {"MC_KAFKA_FETCH_WAIT_MAX_MS": "100", "MC_KAFKA_LINGER_MS": "1"}


@pytest.fixture(scope="module")
def fo_stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("var"), components=("postgres", "kafka", "model-api"))
    try:
        s.env.update(KAFKA_ENV)
        s.extra_logs.append("authz")
        s.up("authz", "pusher")
    except BaseException:
        s.stop()
        raise
    yield s
    s.stop()


@pytest.fixture(scope="module")
def peer(fo_stack):
    """The second authz instance, kept for the module (restarted by tests that stop it)."""
    holder = {"a": AuthzProcess(fo_stack, "authz-2").wait_ready()}
    yield holder
    holder["a"].stop()


@pytest.fixture
def both(fo_stack, peer):
    """Both instances running and sharing the partitions before (and after) the test."""
    def settle():
        fo_stack.up("authz")
        if not peer["a"].alive():
            peer["a"] = AuthzProcess(fo_stack, "authz-2", txid=peer["a"].txid).wait_ready()
        admin = AdminClient({"bootstrap.servers": fo_stack.kafka_bootstrap})
        wait_until(lambda: (g := group_members(admin)) and len(g) == 2 and all(g.values()) and g,
                   "authz group Stable with 2 members, each with partitions", 90)
    settle()
    yield peer
    settle()


def change_event(rec_id, word):
    """A valid created-event of a Dictionary record (docs/events.md), with its headers."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())
    after = {"id": rec_id, "word": word, "definition": None, "pronunciation": None,
             "version": 1, "created_at": now, "updated_at": now}
    value = {"model": MODEL, "id": rec_id, "op": "create", "version": 1, "before": None,
             "after": after, "changed": ["word"], "txid": 1, "committed_at": now}
    return value


def publish(stack, events):
    """Produces (ce_id, value) pairs to modelcast.changes as the relay does (key Model:id)."""
    p = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True,
                  "partitioner": "murmur2_random"})
    for ce_id, v in events:
        headers = [("ce_specversion", b"1.0"), ("ce_id", ce_id.encode()),
                   ("ce_source", b"/modelcast/model-api"), ("ce_type", b"modelcast.record.created"),
                   ("ce_subject", f"{MODEL}/{v['id']}".encode()), ("ce_time", v["committed_at"].encode()),
                   ("content-type", b"application/json")]
        p.produce(CHANGES, key=f"{MODEL}:{v['id']}", value=json.dumps(v), headers=headers)
    assert p.flush(30) == 0, "change events not acknowledged within 30 s"


def deliveries_of(stack, words, what):
    """Every committed delivery of the given words (read from the beginning)."""
    def done(msgs):
        got = {(m["value"].get("attributes") or {}).get("word") for m in msgs}
        return set(words) <= got
    return [m for m in read_topic(stack.kafka_bootstrap, DELIVERIES, done, what)
            if (m["value"].get("attributes") or {}).get("word") in words]


def dup_total(urls):
    return sum(metrics(u).get("modelcast_authz_duplicates_dropped_total", 0) for u in urls)


# ----------------------------------------------------------------------- repeated events

def test_a_repeated_change_event_is_delivered_once_also_after_a_restart(fo_stack, both):
    stack = fo_stack
    urls = [stack.authz_url, both["a"].url]
    tag = uuid.uuid4().hex[:8]
    rec = 900_000_000 + int(tag[:6], 16)
    first = (str(uuid.uuid4()), change_event(rec, f"dup-{tag}"))
    marker = (str(uuid.uuid4()), change_event(rec + 1, f"mark-{tag}"))
    dups_before = dup_total(urls)
    # The relay's republish: the same event again, right after the original.
    publish(stack, [first, first, marker])
    msgs = deliveries_of(stack, {f"dup-{tag}", f"mark-{tag}"}, "the repeated event's deliveries")
    per_word = collections.Counter(m["value"]["attributes"]["word"] for m in msgs)
    print(f"same ce_id twice: deliveries {dict(per_word)}")
    assert per_word[f"dup-{tag}"] == 1, f"a repeated ce_id was delivered {per_word}"
    wait_until(lambda: dup_total(urls) >= dups_before + 1, "the repeat counted as dropped", 30)

    # Both instances restart (nothing of their memory survives): the repeat is still known,
    # read back from the topic on assignment.
    stack.kill9("authz")
    both["a"].proc.kill()
    both["a"].proc.wait(30)
    stack.up("authz")
    both["a"] = AuthzProcess(stack, "authz-2", txid=both["a"].txid).wait_ready()
    urls = [stack.authz_url, both["a"].url]
    marker2 = (str(uuid.uuid4()), change_event(rec + 2, f"mark2-{tag}"))
    publish(stack, [first, marker2])
    msgs = deliveries_of(stack, {f"dup-{tag}", f"mark2-{tag}"}, "deliveries after the restart")
    per_word = collections.Counter(m["value"]["attributes"]["word"] for m in msgs)
    read_back = sum(metrics(u).get("modelcast_authz_dedupe_read_back_total", 0) for u in urls)
    print(f"after both instances restarted, the same ce_id again: deliveries {dict(per_word)}; "
          f"ce_ids read back on assignment: {read_back:.0f}")
    assert per_word[f"dup-{tag}"] == 1, f"a repeat after a restart was delivered again: {per_word}"
    assert read_back > 0, "no ce_id was read back on assignment"


def test_a_consumer_property_does_not_make_the_producer_warn(fo_stack):
    """MC_KAFKA_FETCH_WAIT_MAX_MS (consumers) and MC_KAFKA_LINGER_MS (producers) were given
    to the stack's authz: no librdkafka client of it logs CONFWARN about them."""
    log = fo_stack.log("authz")
    assert "streaming" in log, "authz has not started its stream"
    warns = [line for line in log.splitlines() if "CONFWARN" in line]
    assert not warns, f"CONFWARN in authz's log: {warns[:3]}"


# ----------------------------------------------------------------------------- failover

def test_failover_gaps_under_a_trickle(fo_stack, both):
    stack = fo_stack
    tag = f"fo{uuid.uuid4().hex[:8]}"
    watcher = DeliveryWatcher(stack.kafka_bootstrap, tag)
    trickle = Trickle(stack.api_url, tag, rate=20)
    gaps = {}
    readiness = []  # /readyz as soon as deploy/local/up saw it ready after a restart
    try:
        wait_until(lambda: trickle.count() >= 40, "40 writes before the first failure", 60)
        wait_delivered(watcher, list(trickle.snapshot()), "the first writes delivered")

        # 1. SIGKILL, not restarted: the peer takes the partitions over.
        t = time.monotonic()
        stack.kill9("authz")
        wait_until(lambda: time.monotonic() > t + 12, "12 s of writes after the kill", 30, 0.2)
        wait_until(lambda: all(w in watcher.snapshot() for w, s in trickle.snapshot().items()
                               if s < t + 12),
                   "every write of the 12 s after the kill delivered by the survivor", 120, 0.2)
        gaps["sigkill, not restarted"] = delivery_gap(trickle.snapshot(), watcher.snapshot(), t, 12)

        # Back to two instances (a new member: one rebalance), then settle.
        stack.up("authz")
        admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
        wait_until(lambda: (g := group_members(admin)) and len(g) == 2 and all(g.values()) and g,
                   "authz group Stable with 2 members again", 90)
        t_sent = time.monotonic()
        wait_until(lambda: all(w in watcher.snapshot() for w, s in trickle.snapshot().items()
                               if s < t_sent), "writes delivered after the rejoin", 60, 0.2)

        # 2. A clean restart of the same instance (SIGTERM, start again): static membership
        # gives it its partitions back without a rebalance.
        t = time.monotonic()
        stack.down("authz")
        stack.up("authz")
        t_up = time.monotonic()
        readiness.append(("clean restart", requests.get(stack.authz_url + "/readyz", timeout=5).json()))
        wait_until(lambda: time.monotonic() > t_up + 3, "3 s of writes after the restart", 30, 0.2)
        wait_until(lambda: all(w in watcher.snapshot() for w, s in trickle.snapshot().items()
                               if s < t_up + 3), "writes delivered after the clean restart", 60, 0.2)
        gaps[f"clean restart (down+up took {t_up - t:.1f} s)"] = delivery_gap(
            trickle.snapshot(), watcher.snapshot(), t, t_up - t + 3)

        # 3. SIGKILL and an immediate restart: its open transaction is aborted by the new
        # instance's init, its partitions come back without a rebalance.
        t = time.monotonic()
        stack.kill9("authz")
        stack.up("authz")
        t_up = time.monotonic()
        readiness.append(("kill + restart", requests.get(stack.authz_url + "/readyz", timeout=5).json()))
        wait_until(lambda: time.monotonic() > t_up + 3, "3 s of writes after the restart", 30, 0.2)
        wait_until(lambda: all(w in watcher.snapshot() for w, s in trickle.snapshot().items()
                               if s < t_up + 3), "writes delivered after kill + restart", 60, 0.2)
        gaps[f"sigkill + restart (up took {t_up - t:.1f} s)"] = delivery_gap(
            trickle.snapshot(), watcher.snapshot(), t, t_up - t + 3)
    finally:
        trickle.stop()
    try:
        sent = trickle.snapshot()
        wait_delivered(watcher, list(sent), "every write delivered", 90)
        arrivals = watcher.snapshot()
    finally:
        watcher.close()
    load = os.getloadavg()
    for what, g in gaps.items():
        print(f"authz failover, {what}: the changes of its partitions waited up to "
              f"{g['max_delay_s']} s (longest send→delivery over {g['writes']} writes; "
              f"{g['baseline_max_s']} s in the 10 s before; longest silence of all deliveries "
              f"{g['silence_s']} s; load average {load[0]:.1f})")
    assert not trickle.errors, f"writes failed: {trickle.errors[:5]}"
    assert watcher.error is None, watcher.error
    # Ready only with partitions: two members share 4, so a restarted one owns some when ready.
    for what, body in readiness:
        assert body.get("status") == "ready" and body.get("partitions", 0) > 0, (
            f"{what}: /readyz said {body} (ready before the group gave it partitions)")
    dupes = {w: len(ts) for w, ts in arrivals.items() if len(ts) > 1}
    assert not dupes, f"{len(dupes)} writes delivered more than once: {list(dupes.items())[:5]}"
    assert set(sent) <= set(arrivals), f"{len(set(sent) - set(arrivals))} writes not delivered"


# ---------------------------------------------------------------- what a client sees

def ws_collect(url, prefix, out, stop, errors):
    """A WebSocket client subscribed to CHANNEL: appends (time, frame) of every change of a
    word starting with prefix to out until stop is set."""
    try:
        with ws_connect(url, open_timeout=10) as c:
            c.send(json.dumps({"type": "subscribe", "channel": CHANNEL}))
            while not stop.is_set():
                try:
                    f = json.loads(c.recv(timeout=0.2))
                except TimeoutError:
                    continue
                if f.get("type") == "subscribed":
                    out.append((time.monotonic(), f))
                elif f.get("type") == "change" and \
                        str((f.get("attributes") or {}).get("word", "")).startswith(prefix):
                    out.append((time.monotonic(), f))
                elif f.get("type") == "error":
                    errors.append(f)
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append(repr(e))


def ws_subscribe_once(url, deadline_s=30):
    """A new connection's answer to subscribe CHANNEL (subscribed or error), and how long."""
    t = time.monotonic()
    with ws_connect(url, open_timeout=10) as c:
        c.send(json.dumps({"type": "subscribe", "channel": CHANNEL}))
        while time.monotonic() - t < deadline_s:
            try:
                f = json.loads(c.recv(timeout=1))
            except TimeoutError:
                continue
            if f.get("type") in ("subscribed", "error"):
                return f, round(time.monotonic() - t, 2)
    return None, deadline_s


def check_client_saw_each_once(frames, sent, what):
    words = collections.Counter(f["attributes"]["word"] for _, f in frames if f.get("type") == "change")
    dupes = {w: n for w, n in words.items() if n > 1}
    missing = [w for w in sent if w not in words]
    assert not dupes, f"{what}: the client got {len(dupes)} changes twice: {list(dupes.items())[:5]}"
    assert not missing, f"{what}: the client missed {len(missing)} changes: {missing[:5]}"


def test_websocket_client_while_authz_is_stopped(fo_stack, both):
    """SIGSTOP on the stack's authz (the one the pusher asks): deliveries from its partitions
    pause until the peer takes them over; a new subscription cannot be authorized meanwhile;
    after SIGCONT the stopped instance goes on (or exits when its transaction was aborted
    meanwhile, and is restarted as an orchestrator would). Nothing lost, nothing twice."""
    stack = fo_stack
    tag = f"st{uuid.uuid4().hex[:8]}"
    frames, errors, stop = [], [], threading.Event()
    client = threading.Thread(target=ws_collect, args=(stack.pusher_ws_url, tag, frames, stop, errors),
                              daemon=True)
    client.start()
    wait_until(lambda: any(f.get("type") == "subscribed" for _, f in frames), "subscribed", 30)
    trickle = Trickle(stack.api_url, tag, rate=20)
    pid = stack.pid("authz")
    stopped_for = answer = None
    took = exited = None
    try:
        wait_until(lambda: trickle.count() >= 20, "20 writes before the stop", 60)
        t = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            answer, took = ws_subscribe_once(stack.pusher_ws_url)
            # The peer takes the stopped member's partitions once its session expires.
            wait_until(lambda: time.monotonic() > t + 10, "10 s of SIGSTOP", 30, 0.2)
        finally:
            os.kill(pid, signal.SIGCONT)
            stopped_for = time.monotonic() - t
        # The peer fenced the stopped member when its session expired: after SIGCONT its next
        # transaction fails and it exits (1), to be restarted as an orchestrator would. (An
        # instance stopped for less than the session timeout just goes on.)
        in_at_cont = metrics(stack.authz_url).get("modelcast_authz_changes_in_total", 0)
        wait_until(lambda: not pid_alive(pid) or
                   metrics(stack.authz_url).get("modelcast_authz_changes_in_total", 0) >= in_at_cont + 20,
                   "authz after SIGCONT: exited, or transformed 20 more changes", 60)
        exited = not pid_alive(pid)
        if exited:
            stack.up("authz")
        t_cont = time.monotonic()
        wait_until(lambda: time.monotonic() > t_cont + 3, "3 s more writes", 10, 0.2)
    finally:
        trickle.stop()
    sent = trickle.snapshot()
    try:
        wait_until(lambda: {f["attributes"]["word"] for _, f in frames if f.get("type") == "change"}
                   >= set(sent), "the client got every change", 90, 0.2)
    finally:
        stop.set()
        client.join(10)
    arrivals = {}
    for at, f in frames:
        if f.get("type") == "change":
            arrivals.setdefault(f["attributes"]["word"], []).append(at)
    g = delivery_gap(sent, arrivals, t, 15)
    print(f"SIGSTOP on authz for {stopped_for:.1f} s: a new subscribe got {answer} after {took} s; "
          f"the subscribed client's changes waited up to {g['max_delay_s']} s (longest "
          f"send→frame; {g['baseline_max_s']} s before; longest silence {g['silence_s']} s); after SIGCONT the instance "
          f"{'exited and was restarted' if exited else 'went on'}; errors seen: {errors[:3]}")
    assert not trickle.errors, trickle.errors[:5]
    check_client_saw_each_once(frames, sent, "SIGSTOP")


def test_fenced_instance_exits_and_deliveries_continue(fo_stack, both):
    """A newcomer with the peer's transactional id fences it: the peer's stream stops, its
    /healthz turns 503 and it exits with status 1; the newcomer carries on its partitions."""
    stack = fo_stack
    tag = f"fe{uuid.uuid4().hex[:8]}"
    victim = both["a"]
    frames, errors, stop = [], [], threading.Event()
    client = threading.Thread(target=ws_collect, args=(stack.pusher_ws_url, tag, frames, stop, errors),
                              daemon=True)
    client.start()
    wait_until(lambda: any(f.get("type") == "subscribed" for _, f in frames), "subscribed", 30)
    trickle = Trickle(stack.api_url, tag, rate=20)
    health = []
    newcomer = None
    try:
        wait_until(lambda: trickle.count() >= 20, "20 writes before the newcomer", 60)
        t = time.monotonic()
        newcomer = AuthzProcess(stack, "authz-3", txid=victim.txid)
        # Watch the victim until it exits.
        while victim.proc.poll() is None and time.monotonic() - t < 60:
            s = status(victim.url, "/healthz")
            if not health or health[-1][1] != s:
                health.append((round(time.monotonic() - t, 2), s))
            time.sleep(0.05)
        exited_after = time.monotonic() - t
        newcomer.wait_ready()
        t_new = time.monotonic()
        wait_until(lambda: time.monotonic() > t_new + 3, "3 s more writes", 10, 0.2)
    finally:
        trickle.stop()
    sent = trickle.snapshot()
    try:
        wait_until(lambda: {f["attributes"]["word"] for _, f in frames if f.get("type") == "change"}
                   >= set(sent), "the client got every change", 90, 0.2)
    finally:
        stop.set()
        client.join(10)
        # The newcomer stays as the module's peer (same id).
        both["a"] = newcomer
    arrivals = {}
    for at, f in frames:
        if f.get("type") == "change":
            arrivals.setdefault(f["attributes"]["word"], []).append(at)
    g = delivery_gap(sent, arrivals, t, 15)
    print(f"fenced: the victim exited with {victim.proc.returncode} after {exited_after:.1f} s "
          f"(/healthz over time: {health}); the client's changes waited up to {g['max_delay_s']} s "
          f"(longest send→frame; {g['baseline_max_s']} s before; longest silence {g['silence_s']} s)")
    assert victim.proc.returncode == 1, f"the fenced instance exited with {victim.proc.returncode}"
    assert "stopped for good" in stack.log("authz-2"), "the fenced instance did not say why it exits"
    assert not trickle.errors, trickle.errors[:5]
    check_client_saw_each_once(frames, sent, "fenced")


# ------------------------------------------------------------------------ Kafka restart

BULK = 20000  # changes of one SQL statement: both instances stream them for a while


def test_both_instances_survive_a_broker_restart_mid_transaction(fo_stack, both):
    """The broker is SIGKILLed while both instances stream a backlog (each has a transaction
    open nearly all the time) and restarted: its coordinator comes back with those
    transactions open for longer than the broker took to restart. Both processes go on (no
    exit: before, with transaction.timeout.ms 5 s, the coordinator aborted them with an epoch
    bump, the producers were fenced and the instances exited); every change is delivered once."""
    stack = fo_stack
    tag = f"kr{uuid.uuid4().hex[:8]}"
    procs = {"authz": stack.pid("authz"), both["a"].log_name: both["a"].proc.pid}
    urls = [stack.authz_url, both["a"].url]
    sizes = {n: stack.log_path(n).stat().st_size for n in ("authz", both["a"].log_name)}
    watcher = DeliveryWatcher(stack.kafka_bootstrap, tag)
    trickle = Trickle(stack.api_url, tag, rate=20)
    try:
        wait_until(lambda: trickle.count() >= 20, "20 writes before the backlog", 60)
        base = sum(metrics(u).get("modelcast_authz_changes_in_total", 0) for u in urls)
        stack.psql(f"INSERT INTO dictionary (word) "
                   f"SELECT '{tag}-b' || i FROM generate_series(1, {BULK}) AS i")
        streamed = wait_until(
            lambda: (n := sum(metrics(u).get("modelcast_authz_changes_in_total", 0) for u in urls)
                     - base) >= 1000 and n, "both instances streaming the backlog", 60, 0.02)
        t = time.monotonic()
        stack.kill9("kafka")
        stack.up("kafka")
        t_up = time.monotonic()
        wait_until(lambda: time.monotonic() > t_up + 3, "3 s of writes after the restart", 30, 0.2)
    finally:
        trickle.stop()
    # An instance that exited is restarted (as an orchestrator would) so that the delivery
    # checks still apply; the exit itself fails the test below.
    if not pid_alive(procs["authz"]):
        stack.up("authz")
    if not both["a"].alive():
        both["a"] = AuthzProcess(stack, both["a"].log_name, txid=both["a"].txid).wait_ready()
    words = list(trickle.snapshot()) + [f"{tag}-b{i}" for i in range(1, BULK + 1)]
    try:
        wait_delivered(watcher, words, "every change delivered after the broker restart", 240)
        arrivals = watcher.snapshot()
    finally:
        watcher.close()
    exited = [name for name, pid in procs.items() if not pid_alive(pid)]
    logs = {n: stack.log_path(n).read_bytes()[sizes.get(n, 0):].decode(errors="replace")
            for n in sizes}
    fences = [ln for text in logs.values() for ln in text.splitlines() if "was fenced" in ln]
    print(f"broker restart after {streamed:.0f} changes of the backlog were read: down and up "
          f"again in {t_up - t:.1f} s; authz exits: {exited or 'none'}; fences survived "
          f"in-process: {len(fences)}; load average {os.getloadavg()[0]:.1f}")
    assert not trickle.errors, trickle.errors[:5]
    assert not exited, f"authz exited on a broker restart: {exited}\n{stack.logs_since(sizes)}"
    dupes = {w: len(ts) for w, ts in arrivals.items() if len(ts) > 1}
    assert not dupes, f"{len(dupes)} changes delivered more than once: {list(dupes.items())[:5]}"
