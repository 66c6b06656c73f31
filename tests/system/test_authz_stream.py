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
import os
import threading
import time
import uuid

import pytest
import requests
from confluent_kafka.admin import AdminClient

from authz_testlib import (CHANGES, CHANNEL, DELIVERIES, HTTP_TIMEOUT, MODEL, AuthzProcess,
                           DeliveryWatcher, group_members, metrics, read_topic, wait_until)
from conftest import pid_alive, start_stack

WRITES = 2000           # REST writes in all (creates and updates)
WRITERS = 2             # writer threads
KILL_AFTER = 600        # successful writes before the kill


@pytest.fixture(scope="module")
def authz_stack(tmp_path_factory):
    """postgres, kafka, model-api; then authz (deploy/local/up passes the stack's environment
    to the services; the group's session timeout is authz's default, 6 s)."""
    s = start_stack(tmp_path_factory.mktemp("var"), components=("postgres", "kafka", "model-api"))
    try:
        s.extra_logs.append("authz")
        s.up("authz")
    except BaseException:
        s.stop()
        raise
    yield s
    s.stop()


@pytest.fixture
def second_authz(authz_stack):
    a = AuthzProcess(authz_stack)
    try:
        yield a.wait_ready()
    finally:
        a.stop()


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

    watcher = DeliveryWatcher(stack.kafka_bootstrap, tag + "-")
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
        t_kill = time.monotonic()
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
        arrivals = sorted(t for ts in watcher.snapshot().values() for t in ts)
        watcher.close()
    # Every Application delivery lives in one partition: a transaction the kill left open
    # holds them all back until the survivor fences the dead member (or the broker times it out).
    around = [t for t in arrivals if t >= t_kill - 1]
    stall = max((b - a for a, b in zip(around, around[1:])), default=None)
    print(f"after the SIGKILL, deliveries (read_committed) stopped for at most "
          f"{stall if stall is None else round(stall, 3)} s; load average {os.getloadavg()[0]:.1f}")
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
    dupes = {e: counts[(e, CHANNEL)] for e in events if counts[(e, CHANNEL)] > 1}
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
    # The kill left an aborted (or timed-out) transaction behind at most; the group moved on;
    # an event the relay published twice (same ce_id) was delivered once.
    assert len(events) == sum(counts.values()), summary
