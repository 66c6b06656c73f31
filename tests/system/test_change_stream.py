"""The change stream (topic modelcast.changes) of model-api against a private stack
(PostgreSQL + Kafka + model-api, models of tests/system/models_rest.json): one valid event
per committed change whoever wrote it, per-record order, and no change lost when Kafka goes
away, when model-api is killed mid-write, or when the active relay of two instances dies;
and model-api's requests keep succeeding across a PostgreSQL restart.

Ground truth comes from PostgreSQL: a record of version v has had exactly v change events
(version 1 on insert, +1 per update, whoever the writer), so for rows that are never deleted
the committed changes are {(id, 1..version)}. Consumers dedupe by ce_id (at least once).
The module's stack is private: these tests stop Kafka, kill model-api and restart PostgreSQL.
"""

import collections
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import free_ports, pid_alive, wait_pid_gone
from mc_testlib import (CORE, MODELS_FILE, POLICIES_FILE, Api, ChangeReader, check_eq, check_json_error,
                        check_per_record_order, metric_value, new_tag, start_second_model_api,
                        stop_process, wait_ready, wait_until)

W = "Widget"
EVENT_DEADLINE_S = 120  # Kafka back after an outage: message timeout (10 s) + relay backoff


@pytest.fixture(scope="module")
def changes_stack(stack_factory):
    s = stack_factory(MODELS_FILE, CORE, POLICIES_FILE)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(changes_stack):
    return Api(changes_stack.api_url)


@pytest.fixture
def healthy(changes_stack):
    """Makes sure Kafka and model-api run and are ready before and after the test."""
    changes_stack.up(*CORE)
    wait_ready(changes_stack.api_url)
    yield changes_stack
    changes_stack.up(*CORE)


def committed_changes(stack, tag):
    """{(key, version)} of every committed change to the tag's rows (none deleted)."""
    out = stack.psql(f"SELECT id, version FROM widgets WHERE tag = '{tag}' ORDER BY id")
    changes = set()
    for line in out.split():
        rec_id, version = map(int, line.split("|"))
        changes.update((f"{W}:{rec_id}", v) for v in range(1, version + 1))
    return changes


def read_all_changes(stack, expected, what, deadline_s=EVENT_DEADLINE_S):
    """Reads modelcast.changes until every (key, version) of expected is there; then checks
    that the distinct events (by ce_id) of those keys are exactly expected, once each, and in
    per-record order."""
    keys = {k for k, _ in expected}
    with ChangeReader(stack.kafka_bootstrap) as reader:
        def have_all(rd):
            got = {(ev.key, ev.value["version"]) for ev in rd.distinct(keys)}
            return expected <= got
        reader.read_until(have_all, f"{what}: all {len(expected)} committed changes on the topic", deadline_s)
        reader.read_to_end()
        events = reader.distinct(keys)
        got = [(ev.key, ev.value["version"]) for ev in events]
        extra = sorted(set(got) - expected)
        assert not extra, f"{what}: events for changes that were never committed: {extra[:20]}"
        dupes = sorted(c for c, n in collections.Counter(got).items() if n > 1)
        assert not dupes, f"{what}: one change published under several ce_id: {dupes[:20]}"
        check_eq(len(events), len(expected), f"{what}: distinct events vs committed changes")
        check_per_record_order(events)
        return reader.events


# ------------------------------------------------------------ one event per committed change

def test_every_write_yields_exactly_one_valid_event(healthy, api):
    stack = healthy
    tag = new_tag()
    a = api.create(W, {"name": "a", "tag": tag, "qty": 1, "price": 2.5, "active": True,
                       "due_at": "2026-05-01T10:00:00Z", "meta": {"k": [1, 2]}, "color": "red",
                       "level": 1, "author_id": 3, "big": 2 ** 40, "notes": "n", "sku": f"s-{tag}"})
    b = api.create(W, {"name": "b", "tag": tag})
    a2 = api.patch(W, a["id"], {"qty": 2, "notes": None})
    a3 = api.patch(W, a["id"], {"meta": {"k": []}}, if_match=2)
    check_json_error(api.request("PATCH", f"/v1/{W}/{a['id']}", json={"qty": 9}, headers={"If-Match": "1"}),
                     412, "version_mismatch", what="stale PATCH")
    check_json_error(api.request("POST", f"/v1/{W}", json={"name": None, "tag": tag}), 422, what="invalid POST")
    check_json_error(api.request("POST", f"/v1/{W}", json={"name": "dup", "sku": f"s-{tag}", "tag": tag}),
                     422, what="duplicate sku")
    a4 = api.patch(W, a["id"], {"qty": 2})  # same value: a new version, nothing changed
    api.delete(W, b["id"], if_match=1)
    c_id = int(stack.psql(f"INSERT INTO widgets (name, tag, qty) VALUES ('c', '{tag}', 5) RETURNING id").split()[0])
    stack.psql(f"UPDATE widgets SET qty = 6, color = 'blue' WHERE id = {c_id}")
    out = stack.psql(
        "BEGIN;"
        f"INSERT INTO widgets (name, tag) VALUES ('d', '{tag}') RETURNING id;"
        f"INSERT INTO widgets (name, tag) VALUES ('e', '{tag}') RETURNING id;"
        f"UPDATE widgets SET name = 'c2' WHERE id = {c_id};"
        "COMMIT;")
    d_id, e_id = map(int, out.split()[:2])
    stack.psql(f"BEGIN; INSERT INTO widgets (name, tag) VALUES ('rolled', '{tag}');"
               f"UPDATE widgets SET qty = 99 WHERE id = {a['id']}; ROLLBACK;")
    stack.psql(f"DELETE FROM widgets WHERE id = {c_id}")

    ka, kb, kc, kd, ke = (f"{W}:{i}" for i in (a["id"], b["id"], c_id, d_id, e_id))
    expected = [(ka, 1, "create"), (kb, 1, "create"), (ka, 2, "update"), (ka, 3, "update"),
                (ka, 4, "update"), (kb, 1, "destroy"), (kc, 1, "create"), (kc, 2, "update"),
                (kd, 1, "create"), (ke, 1, "create"), (kc, 3, "update"), (kc, 3, "destroy")]
    keys = {k for k, _, _ in expected}
    with ChangeReader(stack.kafka_bootstrap) as reader:
        def have_all(rd):
            got = {(ev.key, ev.value["version"], ev.value["op"]) for ev in rd.events if ev.key in keys}
            return set(expected) <= got
        reader.read_until(have_all, "events of every write", EVENT_DEADLINE_S)
        reader.read_to_end()
        mine = [ev for ev in reader.events if ev.key in keys]
    got = sorted((ev.key, ev.value["version"], ev.value["op"]) for ev in mine)
    check_eq(got, sorted(expected), "(key, version, op) of the events of the test's writes (each exactly once)")
    check_per_record_order(mine)
    ev = {(e.key, e.value["version"], e.value["op"]): e.value for e in mine}
    declared = sorted(k for k in a if k not in ("id", "version", "created_at", "updated_at"))

    v = ev[(ka, 1, "create")]
    check_eq((v["model"], v["id"], v["before"]), (W, a["id"], None), "create a: model, id, before")
    check_eq(v["after"], a, "create a: after vs POST answer")
    check_eq(sorted(v["changed"]), declared, "create a: changed (every declared attribute)")
    v = ev[(ka, 2, "update")]
    check_eq((v["before"], v["after"]), (a, a2), "update a v2: before/after vs REST answers")
    check_eq(sorted(v["changed"]), ["notes", "qty"], "update a v2: changed")
    v = ev[(ka, 3, "update")]
    check_eq((v["before"], v["after"], v["changed"]), (a2, a3, ["meta"]), "update a v3")
    v = ev[(ka, 4, "update")]
    check_eq((v["before"], v["after"], v["changed"]), (a3, a4, []), "update a v4 (same value)")
    v = ev[(kb, 1, "destroy")]
    check_eq((v["before"], v["after"], v["changed"]), (b, None, []), "destroy b")
    v = ev[(kc, 2, "update")]
    check_eq(sorted(v["changed"]), ["color", "qty"], "psql update c: changed")
    check_eq((v["after"]["qty"], v["after"]["color"]), (6, "blue"), "psql update c: after")
    v = ev[(kc, 3, "destroy")]
    check_eq((v["before"]["name"], v["after"]), ("c2", None), "psql delete c")
    tx = {ev[(kd, 1, "create")]["txid"], ev[(ke, 1, "create")]["txid"], ev[(kc, 3, "update")]["txid"]}
    check_eq(len(tx), 1, "one txid for the changes of one psql transaction")
    times = {ev[(kd, 1, "create")]["committed_at"], ev[(kc, 3, "update")]["committed_at"]}
    check_eq(len(times), 1, "one committed_at for one transaction")
    txids = [ev[k]["txid"] for k in [(ka, 1, "create"), (kb, 1, "create"), (ka, 2, "update"), (kc, 1, "create")]]
    check_eq(len(set(txids)), len(txids), "separate writes have separate txids")
    check_eq(stack.psql(f"SELECT count(*) FROM widgets WHERE name = 'rolled' AND tag = '{tag}'").strip(), "0",
             "rolled-back insert")


# --------------------------------------------------------------------------- Kafka outage

def test_kafka_down_writes_succeed_then_every_change_arrives(healthy, api):
    stack = healthy
    tag = new_tag()
    stack.down("kafka")
    try:
        recs = [api.create(W, {"name": f"k{i}", "tag": tag, "qty": i}) for i in range(20)]
        for rec in recs[:10]:
            api.patch(W, rec["id"], {"qty": rec["qty"] + 100})
            api.patch(W, rec["id"], {"notes": "twice"}, if_match=2)
        stack.psql(f"UPDATE widgets SET active = true WHERE tag = '{tag}'")  # 20 more, by SQL
        deleted = recs[15:]
        for rec in deleted:
            api.delete(W, rec["id"])
        depth = int(stack.psql("SELECT count(*) FROM modelcast_outbox").strip())
        assert depth >= 20 + 20 + 20 + len(deleted), f"outbox rows while Kafka is down: {depth}"

        # Ready means "can serve": still 200, the detail says Kafka is away and the outbox
        # lag grows; the writes above succeeded meanwhile.
        def degraded():
            r = requests.get(stack.api_url + "/readyz", timeout=5)
            body = r.json()
            return (r.status_code == 200 and body.get("status") == "degraded"
                    and body.get("kafka") == "unreachable" and body.get("outbox_depth", 0) >= depth
                    and body.get("outbox_lag_seconds", 0) > 0 and body)
        body = wait_until(degraded, "/readyz 200 degraded: kafka unreachable, outbox lag growing", 30)
        assert body["postgres"] == "ok" and body["degraded"], f"readyz body: {body!r}"
        lag = body["outbox_lag_seconds"]
        wait_until(lambda: requests.get(stack.api_url + "/readyz", timeout=5).json()["outbox_lag_seconds"] > lag,
                   "outbox_lag_seconds grows while Kafka is away", 30)
        check_eq(requests.get(stack.api_url + "/healthz", timeout=5).status_code, 200,
                 "/healthz while Kafka is away (alive: nothing to restart)")
        api.create(W, {"name": "during", "tag": tag, "qty": 99})  # still writable
    finally:
        stack.up("kafka")
    wait_ready(stack.api_url)
    expected = committed_changes(stack, tag)
    check_eq(len(expected), 15 * 2 + 10 * 2 + 1,
             "changes to the surviving rows (create, 2 patches for 10, SQL update; one more create)")
    # Deleted rows: create (1) + SQL update (2) + destroy (also version 2).
    with ChangeReader(stack.kafka_bootstrap) as reader:
        del_keys = {f"{W}:{r['id']}" for r in deleted}
        reader.read_until(lambda rd: sum(1 for e in rd.distinct(del_keys)) >= 3 * len(deleted),
                          "events of the deleted rows", EVENT_DEADLINE_S)
        got = sorted((e.key, e.value["version"], e.value["op"]) for e in reader.distinct(del_keys))
        want = sorted((k, v, op) for k in del_keys for v, op in ((1, "create"), (2, "update"), (2, "destroy")))
        check_eq(got, want, "events of the rows deleted while Kafka was down")
    read_all_changes(stack, expected, "after the Kafka outage")


# --------------------------------------------------------------------------- liveness

def test_stuck_relay_fails_healthz_and_recovers(healthy):
    """/healthz is liveness: it fails when the relay shows no progress for MC_RELAY_STALL_S
    (here 3 s; blocked on a lock held on the outbox), so an orchestrator would restart the
    instance, and passes again once the relay moves. /readyz (can serve) stays 200."""
    stack = healthy
    proc, url = start_second_model_api(stack, {"MC_RELAY_STALL_S": "3"}, name="model-api-stall")
    locker = None
    try:
        wait_ready(url)
        check_eq(requests.get(url + "/healthz", timeout=5).status_code, 200, "/healthz before")
        locker = subprocess.Popen(
            ["psql", "-X", "-q", stack.pg_conninfo, "-c",
             "BEGIN; LOCK TABLE modelcast_outbox IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120) AS modelcast_stall_test"],
            env=stack.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def failing():
            r = requests.get(url + "/healthz", timeout=5)
            return r.status_code == 503 and r.json()
        body = wait_until(failing, "/healthz 503 while the relay is blocked", 60)
        check_eq(body["status"], "failing", f"/healthz body ({body!r})")
        assert "no progress" in body["reason"], body
        check_eq(requests.get(url + "/readyz", timeout=5).status_code, 200, "/readyz while the relay is blocked")
        stack.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE query LIKE '%modelcast_stall_test%' AND pid <> pg_backend_pid()")
        wait_until(lambda: requests.get(url + "/healthz", timeout=5).status_code == 200,
                   "/healthz 200 once the relay moves again", 60)
    finally:
        if locker:
            locker.kill()
            locker.wait(15)
        stop_process(proc)


# ------------------------------------------------------------ an event Kafka cannot take

def test_oversized_sql_change_is_set_aside_and_the_stream_goes_on(healthy, api):
    """A change made too large for Kafka by plain SQL (the REST limits do not apply there):
    the relay moves its event to modelcast_outbox_dead, logs it, counts it, /readyz says
    degraded (still 200), and the changes after it - of every model - are published."""
    stack = healthy
    tag = new_tag()
    big = api.create(W, {"name": "big", "tag": tag})
    dead_before = metric_value(stack.api_url, "modelcast_relay_dead_total") or 0
    # 1.1 MB of notes: the update event holds it once (before has none), over 1,048,588.
    stack.psql(f"UPDATE widgets SET notes = repeat('x', 1100000) WHERE id = {big['id']}")
    after = api.create(W, {"name": "after", "tag": tag})
    author = api.create("Author", {"name": "after the big one"})
    stack.psql(f"INSERT INTO widgets (name, tag) VALUES ('sql after', '{tag}')")
    sql_id = int(stack.psql(f"SELECT id FROM widgets WHERE tag = '{tag}' AND name = 'sql after'"))
    want = {f"{W}:{after['id']}", f"Author:{author['id']}", f"{W}:{sql_id}"}
    with ChangeReader(stack.kafka_bootstrap) as reader:
        reader.read_until(lambda rd: want <= {e.key for e in rd.distinct(want)},
                          "the changes after the oversized one on the topic")
        got = {(e.key, e.value["version"]) for e in reader.distinct({f"{W}:{big['id']}"})}
        assert (f"{W}:{big['id']}", 2) not in got, f"the oversized event was published: {got!r}"
    rows = stack.psql("SELECT model, record_id, version, op, event_bytes, error "
                      f"FROM modelcast_outbox_dead WHERE record_id = {big['id']} AND model = '{W}'")
    fields = rows.strip().split("|")
    assert len(rows.strip().splitlines()) == 1 and fields[:4] == [W, str(big["id"]), "2", "update"], (
        f"dead-letter row of the oversized change: {rows!r}")
    assert int(fields[4]) > 1_048_588 and "MSG_SIZE_TOO_LARGE" in fields[5], f"dead-letter row: {rows!r}"
    wait_until(lambda: (metric_value(stack.api_url, "modelcast_relay_dead_total") or 0) >= dead_before + 1,
               "modelcast_relay_dead_total counts the event set aside", 10)
    log = stack.log("model-api")
    assert f"change event {W}:{big['id']} version 2" in log and "set aside" in log, (
        "no error log naming the record set aside")

    def degraded():
        r = requests.get(stack.api_url + "/readyz", timeout=5)
        return r.status_code == 200 and r.json().get("outbox_dead", 0) >= 1 and r.json()
    body = wait_until(degraded, "/readyz 200 with outbox_dead >= 1", 10)
    check_eq(body["status"], "degraded", f"/readyz status with a dead-letter row ({body!r})")
    # Through REST, a write whose event would not fit is refused before anything changes.
    r = api.request("PATCH", f"/v1/{W}/{big['id']}", json={"qty": 1})
    err = check_json_error(r, 422, "change_too_large", what="PATCH of a record grown past the limit by SQL")
    assert err["details"]["event_bytes"] > err["details"]["max_bytes"], f"details: {err!r}"
    check_json_error(api.request("DELETE", f"/v1/{W}/{big['id']}"), 422, "change_too_large",
                     what="DELETE of a record grown past the limit by SQL")
    check_eq(stack.psql(f"SELECT version FROM widgets WHERE id = {big['id']}").strip(), "2",
             "version of the refused record")
    # Set right by SQL, the record streams again: the repair itself (version 3) still carries
    # the large notes as its before and is set aside too; the next change is published.
    stack.psql(f"UPDATE widgets SET notes = NULL WHERE id = {big['id']}")
    stack.psql(f"UPDATE widgets SET qty = 5 WHERE id = {big['id']}")
    with ChangeReader(stack.kafka_bootstrap) as reader:
        reader.read_until(lambda rd: any(e.value["version"] == 4 for e in rd.distinct({f"{W}:{big['id']}"})),
                          "version 4 of the repaired record")
    check_eq(stack.psql(f"SELECT version FROM modelcast_outbox_dead WHERE record_id = {big['id']} "
                        f"AND model = '{W}' ORDER BY id").split(), ["2", "3"],
             "versions set aside: the oversized change and the one that repaired it")
    stack.psql(f"DELETE FROM modelcast_outbox_dead WHERE record_id = {big['id']} AND model = '{W}'")
    wait_until(lambda: requests.get(stack.api_url + "/readyz", timeout=5).json().get("status") == "ready",
               "/readyz ready once the dead letter is cleared", 10)


# --------------------------------------------------------------------- kill -9 under load

def test_kill9_during_write_load_loses_no_change(healthy, api):
    stack = healthy
    tag = new_tag()
    threads_n, budget = 4, 400
    stats = {"ok": 0, "errors": 0, "after_restart": 0}
    lock = threading.Lock()
    restarted = threading.Event()
    stop = threading.Event()

    def writer(n):
        s = requests.Session()
        rec_id = None
        for i in range(budget):
            if stop.is_set():
                return
            try:
                if rec_id is None or i % 5 == 0:
                    r = s.post(f"{stack.api_url}/v1/{W}", json={"name": f"w{n}-{i}", "tag": tag, "qty": i % 1000}, timeout=15)
                    ok = r.status_code == 201
                    if ok:
                        rec_id = r.json()["id"]
                else:
                    r = s.patch(f"{stack.api_url}/v1/{W}/{rec_id}", json={"qty": i % 1000}, timeout=15)
                    ok = r.status_code == 200
                if not ok and r.status_code < 500:
                    raise AssertionError(f"writer {n}: {r.status_code} {r.text[:200]}")
                with lock:
                    stats["ok" if ok else "errors"] += 1
                    if not ok:
                        stats["last_error"] = f"{r.status_code} {r.text[:200]}"
                    if ok and restarted.is_set():
                        stats["after_restart"] += 1
            except requests.RequestException as e:
                with lock:
                    stats["errors"] += 1
                    stats["last_error"] = repr(e)[:200]
                s.close()
                s = requests.Session()
                if not restarted.wait(120):
                    return

    failures = []

    def run(n):
        try:
            writer(n)
        except AssertionError as e:
            failures.append(str(e))
    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(threads_n)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: stats["ok"] >= 200 or not any(t.is_alive() for t in threads),
                   "200 successful writes before the kill", 120)
        assert stats["ok"] >= 200, f"writers ended early: {stats} {failures}"
        pid = stack.kill9("model-api")
        assert not pid_alive(pid)
        stack.up("model-api")
        restarted.set()
    finally:
        restarted.set()
        deadline = time.monotonic() + 300
        for t in threads:
            t.join(max(deadline - time.monotonic(), 1))
        stop.set()
    assert not failures, f"writers got unexpected answers: {failures}"
    assert not any(t.is_alive() for t in threads), "writers did not finish"
    assert stats["after_restart"] > 0, f"no write succeeded after the restart: {stats}"
    expected = committed_changes(stack, tag)
    assert len(expected) >= stats["ok"], f"committed changes {len(expected)} < successful requests {stats}"
    read_all_changes(stack, expected, f"after kill -9 under load ({stats})")


# ------------------------------------------------------------------- PostgreSQL restart

def model_api_backends(stack):
    """The open connections of the modelcast role other than this psql (pool and relay)."""
    return int(stack.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'modelcast' "
                          "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").strip())


def test_postgres_restart_first_requests_succeed(healthy, api):
    """PostgreSQL restarts under a running model-api: the pool's idle connections died with
    it, and the first requests after it returns (concurrent writes, which are never
    repeated, so each needs a live connection of its own) all succeed."""
    stack = healthy
    tag = new_tag()
    parallel = 12

    def create(i):
        return requests.post(f"{stack.api_url}/v1/{W}", json={"name": f"pg{i}", "tag": tag},
                             timeout=30)

    with ThreadPoolExecutor(parallel) as pool:  # open several pool connections
        warm = list(pool.map(create, range(parallel)))
    check_eq([r.status_code for r in warm], [201] * parallel, "creates before the restart")
    before = model_api_backends(stack)
    assert before >= 2, f"model-api holds {before} connections before the restart (pool + relay)"

    stack.down("postgres")
    stack.up("postgres")

    r = requests.get(stack.api_url + "/readyz", timeout=15)
    check_eq(r.status_code, 200, f"first /readyz after the restart (body {r.text!r})")
    with ThreadPoolExecutor(parallel) as pool:
        after = list(pool.map(create, range(parallel, 2 * parallel)))
    check_eq([(r.status_code, r.text[:120] if r.status_code != 201 else "") for r in after],
             [(201, "")] * parallel,
             f"concurrent creates after the restart ({before} connections were open before it)")
    rec = after[0].json()
    check_eq(api.get(f"/v1/{W}/{rec['id']}").json(), rec, "GET by id after the restart")
    check_eq(api.count(W, {"tag": tag}), 2 * parallel, "count after the restart")
    check_eq(api.patch(W, rec["id"], {"qty": 1})["version"], 2, "PATCH after the restart")
    api.delete(W, rec["id"])


# ----------------------------------------------------------------- two instances, one relay

def test_two_instances_one_relay_and_takeover(healthy, api):
    stack = healthy
    tag = new_tag()
    proc, url2 = start_second_model_api(stack)
    try:
        wait_ready(url2)
        urls = {"first": stack.api_url, "second": url2}

        def one_active():
            g = {name: metric_value(u, "modelcast_relay_active") for name, u in urls.items()}
            return sorted(g.values()) == [0.0, 1.0] and g
        gauges = wait_until(one_active, "exactly one modelcast_relay_active = 1", 30)
        active = next(n for n, v in gauges.items() if v == 1.0)
        standby = "second" if active == "first" else "first"
        apis = {n: Api(u) for n, u in urls.items()}
        for n in ("first", "second"):
            for i in range(10):
                rec = apis[n].create(W, {"name": f"{n}{i}", "tag": tag})
                apis[n].patch(W, rec["id"], {"qty": i})
        # Still exactly one, after writes through both.
        check_eq(sorted((metric_value(u, "modelcast_relay_active") for u in urls.values())), [0.0, 1.0],
                 "relay gauges of the two instances")
        if active == "first":
            stack.kill9("model-api")
        else:
            proc.kill()
            proc.wait(15)
            wait_pid_gone(proc.pid, 15, "second model-api after SIGKILL")
        wait_until(lambda: metric_value(urls[standby], "modelcast_relay_active") == 1.0,
                   f"the {standby} instance takes over the relay", 30)
        for i in range(10):
            rec = apis[standby].create(W, {"name": f"after{i}", "tag": tag})
            apis[standby].patch(W, rec["id"], {"qty": i})
        expected = committed_changes(stack, tag)
        check_eq(len(expected), 30 * 2, "committed changes (30 records, version 2 each)")
        read_all_changes(stack, expected, f"after the {active} (active) relay was killed")
    finally:
        stop_process(proc)


# --------------------------------------------------------------- the whole topic, at the end

def test_whole_topic_is_valid_ordered_and_one_ce_id_per_change(healthy):
    """An independent read_committed consumer of everything this module wrote: every value
    matches docs/events.schema.json (checked on read), per-record order holds, and each
    change (key, version, op) has exactly one ce_id, however often it was re-delivered."""
    stack = healthy
    api = Api(stack.api_url)
    rec = api.create(W, {"name": "last", "tag": new_tag()})
    api.patch(W, rec["id"], {"qty": 1})
    api.delete(W, rec["id"])
    key = f"{W}:{rec['id']}"
    with ChangeReader(stack.kafka_bootstrap) as reader:
        reader.read_until(lambda rd: len(rd.distinct({key})) >= 3, "the 3 events of this test")
        reader.read_to_end()
        events = reader.distinct()
    changes = [(e.key, e.value["version"], e.value["op"]) for e in events]
    dupes = sorted(c for c, n in collections.Counter(changes).items() if n > 1)
    assert not dupes, f"changes published under several ce_id: {dupes[:20]}"
    check_per_record_order(events)
