"""bench/chaos: the whole stack under steady writes while its components are SIGKILLed and
restarted, and the proof, at the end, that nothing committed was lost, repeated or reordered.

What runs (all on 127.0.0.1, against a stack started by deploy/local/up):
- writers: REST threads (Dictionary and Todo creates, patches, deletes as their owners) and
  one SQL writer (psql transactions touching several records), at a steady rate; every
  written record carries its send time (`t=<epoch>` in Dictionary.definition / Todo.title);
- a ledger: a trigger of this harness (chaos_ledger, beside modelcast's own) records every
  committed change in PostgreSQL, in the same transaction, and is never pruned: it is the
  truth the rest is checked against (a write whose answer was lost may still have committed);
- WebSocket clients: anonymous ones on Application and users on Application, User-N and
  Team-N; each keeps the position of the last change it applied per channel, reconnects and
  resubscribes with `since` when its connection drops (and also on purpose, churning), retries
  a subscribe answered `unavailable`, refetches a channel over REST on `resync`, and keeps the
  state of its channels;
- a reader of modelcast.changes (mc_testlib.ChangeReader: its own group, every event checked
  against docs/events.schema.json), deduplicating by ce_id;
- the chaos loop: each chosen component once in a random order, then at random, is SIGKILLed,
  restarted with deploy/local/up after a short outage, and timed until a change written after
  the restart reaches a client (its recovery). Components that exit on their own, and
  services whose /healthz fails 3 times in a row, are restarted too (as an orchestrator's
  liveness probe would) and counted.

At the end (writers stopped, every component up) it waits, bounded, until the topic and every
client hold what the ledger says they must, then checks: every committed change is on the
topic; every client received each change routed to its channels (config/policies.json's
routing, rewritten in `route` below) once (duplicates counted by event id), per record in
version order, with strictly growing positions; and each client's state (its channels merged)
equals what the REST API shows under its own token. Figures are split by fault window: the
changes committed from one kill to the next are counted against the component killed.

The harness is a library: bench/chaos/run (command line), bench/soak/run (no kills, long) and
tests/system/test_chaos.py (the 2-minute run of `make test`) drive it.
"""

import collections
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "system"))

import requests  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

import conftest  # noqa: E402  (Stack, start_stack, pid_alive: the system tests' stack control)
import mc_testlib  # noqa: E402  (Api, ChangeReader)
import tokens  # noqa: E402

COMPONENTS = ("postgres", "kafka", "model-api", "authz", "pusher")
TABLES = {"Dictionary": "dictionary", "Todo": "todo"}
# Users of the Todo model and their teams (claims `sub` and `teams`), as config/policies.json
# routes them: User-N gets its owner's Todos whole, Team-N the non-private ones in part.
USERS = {101: (11,), 102: (11, 12), 103: (12,)}
HTTP_TIMEOUT = 15
PORT_OF = {"model-api": "api", "authz": "authz", "pusher": "pusher"}
LIVENESS_FAILURES = 3
PAGE = 500
MAX_PAGES = 2000
EXAMPLES = 8  # examples kept per kind of violation


def now():
    return time.time()


def parse_pos(pos):
    p, o = str(pos).split(":")
    return int(p), int(o)


def sent_time(attrs):
    """The send time a writer put in a record (`t=<epoch>` at the start of definition/title)."""
    for k in ("definition", "title"):
        v = attrs.get(k) if isinstance(attrs, dict) else None
        if isinstance(v, str) and v.startswith("t="):
            try:
                return float(v[2:].split(" ", 1)[0])
            except ValueError:
                return None
    return None


# ----------------------------------------------------------------------------- routing

def channels_of(model, rec):
    """The channels config/policies.json sends record rec of model to (an empty set for None)."""
    if rec is None:
        return set()
    if model == "Dictionary":
        return {"Application"}
    if model == "Todo":
        chans = {f"User-{rec['owner_id']}"}
        if rec.get("team_id") is not None and rec.get("private") is not True:
            chans.add(f"Team-{rec['team_id']}")
        return chans
    return set()


def route(row):
    """[(channel, delivery op)] for one committed change (a ledger row), as authz routes it:
    the channels of `after` get the op (an update to a channel that did not see `before` is a
    create), the channels that saw `before` but not `after` get a remove."""
    model, op = row["model"], row["op"]
    before, after = channels_of(model, row["before"]), channels_of(model, row["after"])
    if op == "create":
        return [(c, "create") for c in after]
    if op == "destroy":
        return [(c, "destroy") for c in before]
    return [(c, "update" if c in before else "create") for c in after] + \
        [(c, "remove") for c in before - after]


# ---------------------------------------------------------------------------- options

@dataclass
class Options:
    duration: float = 120.0          # seconds of chaos (kills start no later than this)
    seed: int = 0
    components: tuple = COMPONENTS   # what is killed; () for none (the soak)
    rate: float = 20.0               # REST writes per second, all writers together
    sql_every: float = 0.5           # seconds between SQL writer transactions (0: none)
    anon_clients: int = 2
    churn: tuple = (10.0, 30.0)      # a client drops its connection on purpose every so often
    outage: tuple = (0.0, 2.0)       # seconds a killed component stays down
    pause: tuple = (2.0, 5.0)        # steady seconds after a recovery, before the next kill
    recover_timeout: float = 120.0   # wait this long for deliveries to resume after a restart
    drain_timeout: float = 180.0     # wait this long at the end for every delivery
    first_round_cap: float = 420.0   # the first round (each component once) may overrun by this
    ephemeral_every: float = 0.0     # seconds between short-lived extra connections (0: none)
    warmup: float = 5.0              # steady seconds of writes before the first kill
    progress: object = print
    tick: object = None              # tick(live) ~10 times a second from the main thread (soak)


# ---------------------------------------------------------------------------- the ledger

LEDGER_SQL = """
CREATE TABLE IF NOT EXISTS chaos_ledger (
  seq bigserial PRIMARY KEY, model text NOT NULL, rid bigint NOT NULL, op text NOT NULL,
  version bigint NOT NULL, before jsonb, after jsonb,
  at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()));
CREATE OR REPLACE FUNCTION chaos_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO chaos_ledger (model, rid, op, version, before, after)
  VALUES (TG_ARGV[0], coalesce(NEW.id, OLD.id),
          CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'destroy' END,
          CASE TG_OP WHEN 'DELETE' THEN OLD.version ELSE NEW.version END,
          CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
          CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
  RETURN NULL;
END $$;
"""


def install_ledger(stack):
    sql = LEDGER_SQL + "".join(
        f"CREATE OR REPLACE TRIGGER zz_chaos_ledger AFTER INSERT OR UPDATE OR DELETE ON {t} "
        f"FOR EACH ROW EXECUTE FUNCTION chaos_ledger('{m}');\n" for m, t in TABLES.items())
    stack.psql(sql)


def read_ledger(stack):
    out = stack.psql("SELECT row_to_json(l) FROM chaos_ledger l ORDER BY seq", timeout=300)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def change_key(model, rid, version, op):
    return (model, int(rid), int(version), op)


# ---------------------------------------------------------------------------- probes

class Probe:
    """Notices the first delivery, to any client, of a change sent at or after a time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.since = None
        self.first = None

    def arm(self, since):
        with self.lock:
            self.since, self.first = since, None

    def saw(self, t_sent, t_recv):
        if t_sent is None:
            return
        with self.lock:
            if self.since is not None and self.first is None and t_sent >= self.since:
                self.first = t_recv

    def result(self):
        with self.lock:
            return self.first


# ---------------------------------------------------------------------------- REST

def api_for(stack, token=None):
    api = mc_testlib.Api(stack.api_url)
    api.session.trust_env = False  # 127.0.0.1 only: never a proxy from the environment
    if token:
        api.session.headers["Authorization"] = f"Bearer {token}"
    return api


def fetch_all(api, model, params=None):
    """Every record of model the token of api may see (matching params), by id."""
    out, cursor = {}, None
    for _ in range(MAX_PAGES):
        p = dict(params or {}, limit=PAGE)
        if cursor:
            p["cursor"] = cursor
        body = api.list(model, p)
        for rec in body["data"]:
            out[rec["id"]] = rec
        cursor = body.get("next_cursor")
        if not cursor:
            return out
    raise AssertionError(f"GET /v1/{model}: more than {MAX_PAGES} pages")


def channel_query(channel):
    """The REST query that refetches what channel carries (for `resync`)."""
    if channel == "Application":
        return "Dictionary", {}, None
    kind, n = channel.split("-", 1)
    if kind == "User":
        return "Todo", {"owner_id": n}, None
    # A teammate sees only what Team-N sends (private is not shown to it); an owner sees its
    # own private ones too, which Team-N does not carry.
    return "Todo", {"team_id": n}, (lambda rec: rec.get("private") is not True)


# ---------------------------------------------------------------------------- clients

class Client(threading.Thread):
    """One resuming WebSocket client on a few channels (see the module comment)."""

    def __init__(self, name, stack, token, channels, probe, rng, churn, deadline):
        super().__init__(name=f"client-{name}", daemon=True)
        self.cname, self.stack, self.token = name, stack, token
        self.channels = list(channels)
        self.probe, self.rng, self.churn, self.deadline = probe, rng, churn, deadline
        self.api = api_for(stack, token)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.last = {c: None for c in self.channels}       # position of the last change applied
        self.state = {c: {} for c in self.channels}        # (model, id) -> attributes
        self.seen = {c: set() for c in self.channels}      # event ids per channel
        self.delivered = set()                              # (channel, model, id, version, op)
        self.dup_frames = collections.Counter()             # same event id again
        self.dup_changes = collections.Counter()            # same change under another event id
        self.dup_log = []                                    # (time received, key) of each
        self.order_last = {}                                 # (channel, model, id) -> (version, gone)
        self.violations = collections.defaultdict(list)     # kind -> examples
        self.counts = collections.Counter()
        self.errors = collections.Counter()                 # error frames by code
        self.resynced = {}                                   # channel -> time of the last resync
        self.refetch = set()                                 # channels to refetch once subscribed
        self.ever_subscribed = set()
        self.failure = None

    # --- bookkeeping (under self.lock: the main thread reads while this one runs)

    def _violation(self, kind, example):
        self.counts[kind] += 1
        if len(self.violations[kind]) < EXAMPLES:
            self.violations[kind].append(example)

    def _on_change(self, f, t_recv):
        ch, model, rid, version, op = f["channel"], f["model"], f["id"], f["version"], f["op"]
        key = (ch, model, rid, version, op)
        pos = parse_pos(f["position"])
        with self.lock:
            self.counts["frames"] += 1
            last = self.last.get(ch)
            if last is not None and pos[0] == last[0] and pos[1] <= last[1]:
                self._violation("stale_position", f"{self.cname} {ch}: {f['position']} after {last}")
            eid = f.get("event_id")
            if eid in self.seen[ch]:
                self.dup_frames[key] += 1
                self.dup_log.append((t_recv, key))
                return
            self.seen[ch].add(eid)
            if key in self.delivered:
                self.dup_changes[key] += 1
                self.dup_log.append((t_recv, key))
            self.delivered.add(key)
            rank = (version, op in ("destroy", "remove"))
            prev = self.order_last.get((ch, model, rid))
            if prev is not None and rank <= prev:
                self._violation("order", f"{self.cname} {ch} {model}:{rid}: {op} v{version} after {prev}")
            self.order_last[(ch, model, rid)] = rank
            cur = self.state[ch].get((model, rid))
            if cur is not None and cur.get("version", 0) > version:
                self.counts["older_than_state"] += 1  # only after a resync's refetch
            elif op in ("destroy", "remove"):
                self.state[ch].pop((model, rid), None)
            else:
                self.state[ch][(model, rid)] = f.get("attributes") or {}
            if last is None or pos[0] != last[0] or pos[1] > last[1]:
                self.last[ch] = pos
        if op in ("create", "update"):
            self.probe.saw(sent_time(f.get("attributes")), t_recv)

    def _refetch(self, ch):
        """After `resync` and the `subscribed` that follows it: the channel's records over
        REST (retried while model-api or PostgreSQL are away); changes after the new position
        then apply on top, older versions ignored."""
        model, params, keep = channel_query(ch)
        while not self.stop.is_set() and now() < self.deadline:
            try:
                recs = fetch_all(self.api, model, params)
                break
            except (AssertionError, requests.RequestException, ValueError):
                self.stop.wait(0.5)
        else:
            return
        with self.lock:
            self.state[ch] = {(model, i): r for i, r in recs.items() if keep is None or keep(r)}
            self.refetch.discard(ch)

    # --- the connection loop

    def _send_subscribe(self, conn, ch):
        msg = {"type": "subscribe", "channel": ch}
        with self.lock:
            last = self.last[ch]
        if last is not None:
            msg["since"] = f"{last[0]}:{last[1]}"
        conn.send(json.dumps(msg))

    def _session(self):
        """One connection: subscribe everything, then read until it drops, churn time comes,
        or the client is stopped. Returns normally on a planned close."""
        with ws_connect(self.stack.pusher_ws_url, open_timeout=5, close_timeout=2,
                        max_queue=None, max_size=4 << 20, proxy=None, compression=None) as conn:
            if self.token:
                conn.send(json.dumps({"type": "auth", "token": self.token}))
            retry_at = {}
            for ch in self.channels:
                self._send_subscribe(conn, ch)
            churn_at = now() + self.rng.uniform(*self.churn) if self.churn else None
            while not self.stop.is_set() and now() < self.deadline:
                if churn_at is not None and now() >= churn_at:
                    self.counts["churns"] += 1
                    return
                for ch, t in list(retry_at.items()):
                    if now() >= t:
                        del retry_at[ch]
                        self._send_subscribe(conn, ch)
                try:
                    raw = conn.recv(timeout=0.2)
                except TimeoutError:
                    continue
                t_recv = now()
                f = json.loads(raw)
                kind = f.get("type")
                if kind == "change":
                    self._on_change(f, t_recv)
                elif kind == "subscribed":
                    ch = f["channel"]
                    with self.lock:
                        self.counts["subscribed"] += 1
                        self.ever_subscribed.add(ch)
                        if self.last[ch] is None:
                            self.last[ch] = parse_pos(f["position"])
                    if ch in self.refetch:
                        self._refetch(ch)
                elif kind == "resync":
                    ch = f["channel"]
                    with self.lock:
                        self.counts["resyncs"] += 1
                        self.resynced[ch] = now()
                        self.refetch.add(ch)
                        self.last[ch] = None
                elif kind == "error":
                    code, ch = f.get("code"), f.get("channel")
                    with self.lock:
                        self.errors[code] += 1
                    if code == "unavailable" and ch in self.last:
                        retry_at[ch] = now() + 0.5
                    else:
                        with self.lock:
                            self._violation("error_frame", f"{self.cname}: {f}")

    def run(self):
        backoff = 0.1
        try:
            while not self.stop.is_set() and now() < self.deadline:
                try:
                    self._session()
                    backoff = 0.1
                except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as e:
                    with self.lock:
                        self.counts["reconnects"] += 1
                        self.counts["drop_" + type(e).__name__] += 1
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, 1.0)
        except Exception as e:  # noqa: BLE001 - reported by the harness
            self.failure = f"{type(e).__name__}: {e}"

    # --- the end

    def merged_state(self):
        """The client's view: the attributes of every record over all its channels."""
        merged = {}
        with self.lock:
            for st in self.state.values():
                for k, attrs in st.items():
                    merged.setdefault(k, {}).update(attrs)
        return merged


class Ephemeral(threading.Thread):
    """Short-lived anonymous connections (subscribe, read a little, close): churn that no check
    depends on, to show that connections coming and going leak nothing (the soak)."""

    def __init__(self, stack, every, deadline, rng):
        super().__init__(name="ephemeral", daemon=True)
        self.stack, self.every, self.deadline, self.rng = stack, every, deadline, rng
        self.stop = threading.Event()
        self.opened = self.failed = 0

    def run(self):
        while not self.stop.wait(self.every) and now() < self.deadline:
            try:
                with ws_connect(self.stack.pusher_ws_url, open_timeout=5, close_timeout=2,
                                proxy=None, compression=None) as c:
                    since = None if self.rng.random() < 0.5 else "0:-1"
                    msg = {"type": "subscribe", "channel": "Application"}
                    if since:
                        msg["since"] = since  # a replay from far back, cut short by the close
                    c.send(json.dumps(msg))
                    end = now() + self.rng.uniform(0.2, 2.0)
                    while now() < end:
                        try:
                            c.recv(timeout=0.2)
                        except TimeoutError:
                            pass
                self.opened += 1
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                self.failed += 1


# ---------------------------------------------------------------------------- writers

class RestWriter(threading.Thread):
    """Writes as one user at a steady rate: Dictionary creates/patches (anonymous; deletes as
    admin) and the user's own Todos (creates, patches moving them between teams and in and out
    of private, deletes). Failures are counted and the loop goes on, briefly backing off."""

    ACTIONS = (("dict_create", 3), ("dict_patch", 4), ("dict_delete", 0.4),
               ("todo_create", 2), ("todo_patch", 4), ("todo_delete", 0.4))

    def __init__(self, stack, user, rate, rng, deadline):
        super().__init__(name=f"writer-{user}", daemon=True)
        self.user, self.teams = user, USERS[user]
        self.interval, self.rng, self.deadline = 1.0 / rate, rng, deadline
        self.anon = api_for(stack)
        self.owner = api_for(stack, tokens.make({"sub": str(user), "teams": list(self.teams)},
                                                 ttl=int(deadline - now()) + 3600))
        self.admin = api_for(stack, tokens.make({"sub": "1", "role": "admin"},
                                                 ttl=int(deadline - now()) + 3600))
        self.stop = threading.Event()
        self.dicts, self.todos = [], []
        self.counts = collections.Counter()
        self.unexpected = []
        self.failure = None

    def _stamp(self, extra=""):
        return f"t={now():.6f} {extra}".strip()

    def _do(self, action):
        rng = self.rng
        if action == "dict_create" or (action in ("dict_patch", "dict_delete") and not self.dicts):
            r = self.anon.request("POST", "/v1/Dictionary", json={
                "word": f"w{self.user}-{self.counts['sent']}", "definition": self._stamp(),
                "pronunciation": "p"})
            if r.status_code == 201:
                self.dicts = (self.dicts + [r.json()["id"]])[-50:]
            return r, (201,)
        if action == "dict_patch":
            rid = rng.choice(self.dicts)
            return self.anon.request("PATCH", f"/v1/Dictionary/{rid}",
                                     json={"definition": self._stamp()}), (200,)
        if action == "dict_delete":
            rid = self.dicts.pop(rng.randrange(len(self.dicts)))
            return self.admin.request("DELETE", f"/v1/Dictionary/{rid}"), (204,)
        if action == "todo_create" or not self.todos:
            team = rng.choice(self.teams + (None,))
            r = self.owner.request("POST", "/v1/Todo", json={
                "title": self._stamp(), "owner_id": self.user, "team_id": team,
                "private": rng.random() < 0.2, "done": False, "notes": "n0"})
            if r.status_code == 201:
                self.todos = (self.todos + [r.json()["id"]])[-30:]
            return r, (201,)
        if action == "todo_patch":
            rid = rng.choice(self.todos)
            body = {"title": self._stamp()}
            x = rng.random()
            if x < 0.25:
                body["team_id"] = rng.choice(self.teams + (None,))
            elif x < 0.45:
                body["private"] = rng.random() < 0.5
            elif x < 0.7:
                body["notes"] = f"n{rng.randrange(1000)}"
            else:
                body["done"] = rng.random() < 0.5
            return self.owner.request("PATCH", f"/v1/Todo/{rid}", json=body), (200,)
        rid = self.todos.pop(rng.randrange(len(self.todos)))
        return self.owner.request("DELETE", f"/v1/Todo/{rid}"), (204,)

    def run(self):
        names = [a for a, _ in self.ACTIONS]
        weights = [w for _, w in self.ACTIONS]
        next_at = now()
        backoff = 0.05
        try:
            while not self.stop.is_set() and now() < self.deadline:
                wait = next_at - now()
                if wait > 0 and self.stop.wait(wait):
                    break
                next_at = max(next_at + self.interval, now() - self.interval)
                action = self.rng.choices(names, weights)[0]
                self.counts["sent"] += 1
                try:
                    r, ok = self._do(action)
                except requests.RequestException:
                    self.counts["failed_connection"] += 1
                    self.counts["failed"] += 1
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, 0.5)
                    for api in (self.anon, self.owner, self.admin):
                        api.session.close()
                    continue
                if r.status_code in ok:
                    self.counts["ok"] += 1
                    backoff = 0.05
                elif r.status_code == 503:  # PostgreSQL away (docs/rest.md)
                    self.counts["failed"] += 1
                    self.counts[f"failed_{r.status_code}"] += 1
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, 0.5)
                else:
                    self.counts["failed"] += 1
                    self.counts["unexpected"] += 1
                    if len(self.unexpected) < EXAMPLES:
                        self.unexpected.append(f"{action}: {r.status_code} {r.text[:200]}")
        except Exception as e:  # noqa: BLE001 - reported by the harness
            self.failure = f"{type(e).__name__}: {e}"


SQL_TXN = """
BEGIN;
INSERT INTO dictionary (word, definition, pronunciation)
  VALUES ('sql-{n}', 't=' || extract(epoch FROM clock_timestamp()), 'sql');
UPDATE dictionary SET definition = 't=' || extract(epoch FROM clock_timestamp()) || ' sql'
  WHERE id = (SELECT id FROM dictionary ORDER BY id DESC LIMIT 1 OFFSET {k});
UPDATE todo SET private = NOT coalesce(private, false),
                title = 't=' || extract(epoch FROM clock_timestamp()) || ' sql'
  WHERE id = (SELECT id FROM todo ORDER BY id DESC LIMIT 1 OFFSET {k});
{delete}
COMMIT;
"""
SQL_DELETE = ("DELETE FROM dictionary WHERE id = (SELECT min(id) FROM dictionary "
              "WHERE word LIKE 'sql-%' AND id < (SELECT max(id) - 100 FROM dictionary));")


class SqlWriter(threading.Thread):
    """Transactions straight in PostgreSQL (psql): an insert, two updates (one moving a Todo
    in or out of private) and now and then a delete, one txid for all."""

    def __init__(self, stack, every, rng, deadline):
        super().__init__(name="sql-writer", daemon=True)
        self.stack, self.every, self.rng, self.deadline = stack, every, rng, deadline
        self.stop = threading.Event()
        self.counts = collections.Counter()
        self.last_error = None
        self.failure = None

    def run(self):
        n = 0
        try:
            while not self.stop.wait(self.every) and now() < self.deadline:
                n += 1
                sql = SQL_TXN.format(n=n, k=self.rng.randrange(20),
                                     delete=SQL_DELETE if n % 10 == 0 else "")
                self.counts["sent"] += 1
                try:
                    self.stack.psql(sql, timeout=15)
                    self.counts["ok"] += 1
                except (AssertionError, subprocess.TimeoutExpired) as e:
                    self.counts["failed"] += 1
                    self.last_error = str(e)[-300:]
        except Exception as e:  # noqa: BLE001 - reported by the harness
            self.failure = f"{type(e).__name__}: {e}"


class TopicReader(threading.Thread):
    """An independent consumer of modelcast.changes (mc_testlib.ChangeReader), deduplicating
    by ce_id."""

    def __init__(self, stack):
        super().__init__(name="topic-reader", daemon=True)
        # Broker kills are expected: librdkafka's connection errors (level 3) stay quiet.
        self.reader = mc_testlib.ChangeReader(stack.kafka_bootstrap, config={"log_level": 2})
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.messages = collections.Counter()           # ce_id -> times read
        self.by_change = collections.defaultdict(set)   # (model, id, version, op) -> ce_ids
        self.repeats = []                               # (time read, change) of each extra copy
        self.last_rank = {}                             # (model, id) -> (version, destroyed)
        self.disorder = []                              # examples of per-record order broken
        self.invalid = []
        self.failure = None

    def run(self):
        try:
            while not self.stop.is_set():
                try:
                    new = self.reader.poll(0.5)
                except AssertionError as e:  # an event that does not match docs/events.md
                    if len(self.invalid) < EXAMPLES:
                        self.invalid.append(str(e)[:300])
                    continue
                with self.lock:
                    for ev in new:
                        v = ev.value
                        k = change_key(v["model"], v["id"], v["version"], v["op"])
                        if self.messages[ev.ce_id]:
                            self.repeats.append((now(), k))
                        else:
                            # Per record (one key, one partition), first copies in commit order.
                            rank = (k[2], k[3] == "destroy")
                            prev = self.last_rank.get(k[:2])
                            if prev is not None and rank <= prev and len(self.disorder) < EXAMPLES:
                                self.disorder.append(f"{k} after v{prev[0]}{' destroy' if prev[1] else ''}")
                            self.last_rank[k[:2]] = max(rank, prev or rank)
                        self.messages[ev.ce_id] += 1
                        self.by_change[k].add(ev.ce_id)
                    self.reader.events.clear()  # the counters above keep what is needed
        except Exception as e:  # noqa: BLE001 - reported by the harness
            self.failure = f"{type(e).__name__}: {e}"
        finally:
            self.reader.close()

    def has(self, keys):
        with self.lock:
            return [k for k in keys if k not in self.by_change]


# ---------------------------------------------------------------------------- kills

@dataclass
class Kill:
    component: str
    pid: int
    t_kill: float
    t_restart: float = None
    t_ready: float = None
    t_recovered: float = None
    restart_attempts: int = 0

    @property
    def recovery(self):
        return None if self.t_recovered is None else self.t_recovered - self.t_restart


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


class Chaos:
    """Kills, restarts, supervision, and the timing of each recovery."""

    def __init__(self, stack, opts, probe, rng, log):
        self.stack, self.opts, self.probe, self.rng, self.log = stack, opts, probe, rng, log
        self.kills = []
        self.self_exits = collections.Counter()
        self.liveness_restarts = collections.Counter()
        self.live_failures = collections.Counter()
        self.last_probe = {}
        self.live = {}  # what run() started, for opts.tick (the soak's sampler)
        self.t0 = now()

    def _up(self, name):
        """deploy/local/up name, retried a few times: PostgreSQL refuses to start while
        backends of the killed postmaster still hold its shared memory, and `up` adopts a
        killed postmaster that is still a zombie (FINDINGS), then fails on psql."""
        last = None
        for attempt in range(1, 6):
            proc = conftest._run_script("up", self.stack.env, 300, name)
            if proc.returncode == 0 and self.stack.pid(name):
                return attempt
            last = (proc.stdout + proc.stderr)[-1500:]
            lines = [x for x in (proc.stdout + proc.stderr).splitlines() if x.strip()]
            self.log(f"deploy/local/up {name} failed (attempt {attempt}): "
                     + " | ".join(lines[-2:])[:300])
            time.sleep(1.0 * attempt)
        raise RuntimeError(f"deploy/local/up {name} failed 5 times:\n{last}")

    def _healthy(self, name):
        try:
            return requests.get(f"http://127.0.0.1:{self.stack.ports[PORT_OF[name]]}/healthz",
                                timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def supervise(self):
        """What an orchestrator does: restarts a component that exited on its own, and a
        service whose liveness check (/healthz) failed LIVENESS_FAILURES times in a row, at
        most once a second each (deploy/k8s probes /healthz the same way, every 10 s)."""
        for name in self.stack.components:
            if self.stack.pid(name) is None:
                self.self_exits[name] += 1
                self.log(f"{name} is not running (exited on its own): restarting it")
                self._up(name)
                continue
            if name not in PORT_OF or now() - self.last_probe.get(name, 0) < 1.0:
                continue
            self.last_probe[name] = now()
            if self._healthy(name):
                self.live_failures[name] = 0
                continue
            self.live_failures[name] += 1
            if self.live_failures[name] >= LIVENESS_FAILURES:
                self.live_failures[name] = 0
                self.liveness_restarts[name] += 1
                self.log(f"{name}: /healthz failed {LIVENESS_FAILURES} times: restarting it")
                conftest._run_script("down", self.stack.env, 120, name)
                self._up(name)

    def wait(self, seconds, until=None):
        end = now() + seconds
        while now() < end:
            if until is not None and until():
                return True
            self.supervise()
            if self.opts.tick:
                self.opts.tick(self.live)
            time.sleep(min(0.1, max(end - now(), 0)))
        return until is not None and bool(until())

    def kill_restart(self, name):
        pid = self.stack.pid(name)
        if pid is None:
            self.supervise()
            pid = self.stack.pid(name)
        kids = children_of(pid) if name == "postgres" else []
        k = Kill(name, pid, now())
        self.kills.append(k)
        self.stack.kill9(name)
        # A killed postmaster's backends notice and exit by themselves; PostgreSQL will not
        # start again while they hold the old shared memory.
        deadline = now() + 30
        while any(conftest.pid_alive(c) for c in kids) and now() < deadline:
            time.sleep(0.05)
        time.sleep(self.rng.uniform(*self.opts.outage))
        k.t_restart = now()
        self.probe.arm(k.t_restart)
        k.restart_attempts = self._up(name)
        k.t_ready = now()
        self.wait(self.opts.recover_timeout, lambda: self.probe.result() is not None)
        k.t_recovered = self.probe.result()
        self.probe.arm(None)
        rec = f"{k.recovery:.1f}s" if k.recovery is not None else f"none within {self.opts.recover_timeout:.0f}s"
        self.log(f"killed {name} (pid {pid}); down {k.t_restart - k.t_kill:.1f}s, ready "
                 f"{k.t_ready - k.t_restart:.1f}s after restart, deliveries resumed {rec} after restart")
        return k

    def run(self):
        comps = list(self.opts.components)
        if not comps:
            self.wait(self.opts.duration)
            return
        first = comps[:]
        self.rng.shuffle(first)
        end = now() + self.opts.duration
        cap = end + self.opts.first_round_cap
        while True:
            t = now()
            if first:
                if t >= cap:
                    self.log(f"first round not finished within its cap; not killed: {first}")
                    break
                name = first.pop(0)
            elif t >= end:
                break
            else:
                name = self.rng.choice(comps)
            self.kill_restart(name)
            self.wait(self.rng.uniform(*self.opts.pause))


# ---------------------------------------------------------------------------- comparison

def _norm(v):
    if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == "T":
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return v
    return v


def same_record(a, b):
    keys = set(a) | set(b)
    return all(_norm(a.get(k)) == _norm(b.get(k)) for k in keys)


def db_view(stack, token, channels):
    """What REST shows token for the models of channels, as {(model, id): record}."""
    api = api_for(stack, token)
    models = sorted({channel_query(c)[0] for c in channels})
    return {(m, i): r for m in models for i, r in fetch_all(api, m).items()}


# ---------------------------------------------------------------------------- the run

@dataclass
class Result:
    opts: Options
    t0: float
    t_chaos_end: float
    t_stop: float
    kills: list
    self_exits: dict
    windows: list            # per fault window: dict of figures
    totals: dict
    writers: dict
    clients: dict
    checks: dict = field(default_factory=dict)   # name -> list of problems (empty: holds)
    drain_s: float = 0.0

    def failures(self, names=None):
        return {k: v for k, v in self.checks.items() if v and (names is None or k in names)}


def run(stack, opts, log=None):
    """Runs the harness against a running stack (all five components up); returns a Result."""
    log = log or opts.progress or (lambda *_: None)
    rng = random.Random(opts.seed)
    t0 = now()

    def say(msg):
        log(f"[{now() - t0:6.1f}s] {msg}")

    install_ledger(stack)
    probe = Probe()
    hard_end = t0 + opts.duration + opts.first_round_cap + opts.recover_timeout + opts.drain_timeout + 600
    topic = TopicReader(stack)
    topic.start()

    ttl = int(hard_end - now()) + 3600
    clients = []
    for i in range(opts.anon_clients):
        clients.append(Client(f"anon{i + 1}", stack, None, ["Application"], probe,
                              random.Random(rng.random()), opts.churn, hard_end))
    for u, teams in USERS.items():
        tok = tokens.make({"sub": str(u), "teams": list(teams)}, ttl=ttl)
        chans = ["Application", f"User-{u}"] + [f"Team-{t}" for t in teams]
        clients.append(Client(f"user{u}", stack, tok, chans, probe, random.Random(rng.random()),
                              opts.churn, hard_end))
    for c in clients:
        c.start()
    chaos = Chaos(stack, opts, probe, rng, say)
    chaos.wait(60, lambda: all(set(c.channels) <= c.ever_subscribed for c in clients))
    missing = {c.cname: sorted(set(c.channels) - c.ever_subscribed) for c in clients
               if not set(c.channels) <= c.ever_subscribed}
    if missing:
        raise RuntimeError(f"clients not subscribed within 60s: {missing}")
    say(f"{len(clients)} clients subscribed on {sum(len(c.channels) for c in clients)} channels; "
        f"writing {opts.rate:g}/s over REST" + (f" and a SQL transaction every {opts.sql_every:g}s" if opts.sql_every else ""))

    writer_end = hard_end
    writers = [RestWriter(stack, u, opts.rate / len(USERS), random.Random(rng.random()), writer_end)
               for u in USERS]
    if opts.sql_every:
        writers.append(SqlWriter(stack, opts.sql_every, random.Random(rng.random()), writer_end))
    ephemeral = Ephemeral(stack, opts.ephemeral_every, hard_end, random.Random(rng.random())) \
        if opts.ephemeral_every else None
    for w in writers + ([ephemeral] if ephemeral else []):
        w.start()
    chaos.live.update(writers=writers, clients=clients, ephemeral=ephemeral, topic=topic,
                      writing=True)

    chaos.t0 = now()
    try:
        chaos.wait(opts.warmup)
        chaos.run()
        t_chaos_end = now()
        chaos.supervise()
        chaos.wait(2.0)  # a little steady writing after the last recovery
    finally:
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(HTTP_TIMEOUT + 20)
        if ephemeral:
            ephemeral.stop.set()
            ephemeral.join(10)
    t_stop = now()
    chaos.live["writing"] = False
    say(f"writes stopped; draining (up to {opts.drain_timeout:.0f}s)")

    # --- drain: every committed change on the topic and at every entitled client
    expected, ledger, keys = None, None, None

    def recompute():
        nonlocal expected, ledger, keys
        ledger = read_ledger(stack)
        keys = [change_key(r["model"], r["rid"], r["version"], r["op"]) for r in ledger]
        expected = {c.cname: {} for c in clients}  # delivery key -> ledger change
        subs = collections.defaultdict(list)
        for c in clients:
            for ch in c.channels:
                subs[ch].append(c)
        for r, k in zip(ledger, keys):
            for ch, dop in route(r):
                for c in subs.get(ch, ()):
                    expected[c.cname][(ch, k[0], k[1], k[2], dop)] = k

    def outbox_empty():
        try:
            return stack.psql("SELECT count(*) FROM modelcast_outbox").strip() == "0"
        except AssertionError:
            return False

    def drained():
        if topic.has(keys):
            return False
        for c in clients:
            with c.lock:
                if not expected[c.cname].keys() <= c.delivered:
                    return False
        return outbox_empty()

    t_drain = now()
    chaos.wait(30, outbox_empty)
    recompute()
    chaos.wait(max(opts.drain_timeout - (now() - t_drain), 1), drained)
    n_before = len(ledger)
    recompute()  # a transaction whose client had gone may have committed late
    if len(ledger) != n_before:
        chaos.wait(30, drained)
    drain_s = now() - t_drain
    say(f"drained in {drain_s:.1f}s" if drained() else f"not drained after {drain_s:.1f}s")

    # --- state: each client's channels merged == REST under its token
    state_problems = []
    for c in clients:
        try:
            want = db_view(stack, c.token, c.channels)
        except AssertionError as e:
            state_problems.append(f"{c.cname}: REST read failed: {e}")
            continue
        got = c.merged_state()
        c.counts["state_records"] = len(got)
        c.counts["db_records"] = len(want)
        for k in sorted(set(want) | set(got)):
            if k not in got:
                state_problems.append(f"{c.cname}: {k} in the database, not at the client (v{want[k].get('version')})")
            elif k not in want:
                state_problems.append(f"{c.cname}: {k} at the client (v{got[k].get('version')}), not in the database")
            elif not same_record(got[k], want[k]):
                state_problems.append(f"{c.cname}: {k} differs: client {got[k]} database {want[k]}")

    for c in clients:
        c.stop.set()
    topic.stop.set()
    for c in clients:
        c.join(10)
    topic.join(15)

    return _result(opts, t0, chaos, t_chaos_end, t_stop, ledger, keys, expected, clients,
                   topic, writers, ephemeral, state_problems, drain_s)


def _result(opts, t0, chaos, t_chaos_end, t_stop, ledger, keys, expected, clients, topic,
            writers, ephemeral, state_problems, drain_s):
    kills = chaos.kills
    # Fault windows: from each kill to the next (the last to the end); before the first, steady.
    bounds = [("steady", -1e18)] + [(k.component, k.t_kill) for k in kills]
    starts = [b[1] for b in bounds]

    def window_of(t):
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= t:
                lo = mid
            else:
                hi = mid - 1
        return lo

    wins = [dict(component=name, committed=0, published=0, topic_repeats=0, expected=0,
                 delivered=0, duplicates=0, lost_topic=0, lost_clients=0) for name, _ in bounds]
    row_window = {}
    for r, k in zip(ledger, keys):
        w = wins[window_of(r["at"])]
        row_window[k] = w
        w["committed"] += 1
        if topic.by_change.get(k):
            w["published"] += 1
        else:
            w["lost_topic"] += 1
    # Repeats are counted where they were seen (a relay republishes after a kill what was
    # committed before it).
    for t, _ in topic.repeats:
        wins[window_of(t)]["topic_repeats"] += 1
    committed_keys = set(keys)
    phantom = [k for k in topic.by_change if k[0] in TABLES and k not in committed_keys]

    checks = collections.defaultdict(list)
    client_rows = {}
    lost_by = collections.Counter()
    change_of = {}  # delivery key -> ledger change, over all clients
    at_of = {k: r["at"] for r, k in zip(ledger, keys)}
    for exp in expected.values():
        change_of.update(exp)
    for c in clients:
        exp = expected[c.cname]
        exempt = 0
        with c.lock:
            delivered = set(c.delivered)
            for key, ck in exp.items():
                w = row_window[ck]
                w["expected"] += 1
                if key in delivered:
                    w["delivered"] += 1
                elif key[0] in c.resynced:
                    exempt += 1
                else:
                    w["lost_clients"] += 1
                    lost_by[c.cname] += 1
                    if lost_by[c.cname] <= EXAMPLES // 2:
                        checks["lost_clients"].append(
                            f"{c.cname}: {key}, committed at +{at_of[ck] - t0:.1f}s")
            for t, key in c.dup_log:
                wins[window_of(t)]["duplicates"] += 1
            for key, n in list(c.dup_frames.items()) + list(c.dup_changes.items()):
                if len(checks["duplicates"]) < EXAMPLES * 2:
                    at = at_of.get(change_of.get(key))
                    when = f", committed at +{at - t0:.1f}s" if at else ""
                    checks["duplicates"].append(f"{c.cname}: {key} repeated {n}x{when}")
            extra = delivered - exp.keys()
            for key in sorted(extra, key=str)[:EXAMPLES]:
                checks["unexpected_deliveries"].append(f"{c.cname}: {key}")
            if c.counts["resyncs"]:
                checks["resync"].append(f"{c.cname}: {c.counts['resyncs']} resync(s) on "
                                        f"{sorted(c.resynced)} (a resume within retention)")
            for kind in ("order", "stale_position", "error_frame"):
                checks[kind].extend(c.violations.get(kind, []))
            client_rows[c.cname] = dict(
                channels=len(c.channels), expected=len(exp), delivered=len(exp.keys() & delivered),
                frames=c.counts["frames"], duplicate_frames=sum(c.dup_frames.values()),
                duplicate_changes=sum(c.dup_changes.values()), extra=len(extra),
                exempt_by_resync=exempt, resyncs=c.counts["resyncs"],
                reconnects=c.counts["reconnects"], churns=c.counts["churns"],
                subscribes=c.counts["subscribed"], errors=dict(c.errors),
                order=c.counts["order"], stale=c.counts["stale_position"],
                records=c.counts["state_records"], db_records=c.counts["db_records"])
            if c.failure:
                checks["harness"].append(f"{c.cname}: {c.failure}")
    if lost_by:
        checks["lost_clients"].insert(0, "lost per client: " + ", ".join(
            f"{n} {m}" for n, m in sorted(lost_by.items())))
    for r, k in zip(ledger, keys):
        if k not in topic.by_change and len(checks["lost_topic"]) < EXAMPLES * 2:
            checks["lost_topic"].append(f"{k} (committed at +{r['at'] - t0:.1f}s)")
    checks["phantom_events"] = [str(k) for k in phantom[:EXAMPLES]]
    checks["invalid_events"] = list(topic.invalid)
    checks["topic_order"] = list(topic.disorder)
    checks["state"] = state_problems[:EXAMPLES * 3]
    if len(state_problems) > EXAMPLES * 3:
        checks["state"].append(f"... {len(state_problems)} differences in all")
    for w in writers:
        if w.failure:
            checks["harness"].append(f"{w.name}: {w.failure}")
        for u in getattr(w, "unexpected", []):
            checks["unexpected_answers"].append(f"{w.name}: {u}")
    if topic.failure:
        checks["harness"].append(f"topic reader: {topic.failure}")
    not_killed = [c for c in opts.components if not any(k.component == c for k in kills)]
    if not_killed:
        checks["not_killed"] = not_killed
    checks["not_recovered"] = [f"{k.component} killed at +{k.t_kill - t0:.1f}s" for k in kills
                               if k.t_recovered is None]

    totals = {key: sum(w[key] for w in wins) for key in wins[0] if key != "component"}
    wcounts = collections.Counter()
    for w in writers:
        wcounts.update({f"{'sql' if isinstance(w, SqlWriter) else 'rest'}_{k}": v
                        for k, v in w.counts.items()})
    if ephemeral:
        wcounts["ephemeral_connections"] = ephemeral.opened
        wcounts["ephemeral_failed"] = ephemeral.failed
    wcounts["topic_messages"] = sum(topic.messages.values())
    wcounts["topic_distinct"] = len(topic.messages)
    exits = {n: f"{chaos.self_exits.get(n, 0)}/{chaos.liveness_restarts.get(n, 0)}"
             for n in set(chaos.self_exits) | set(chaos.liveness_restarts)}
    return Result(opts, t0, t_chaos_end, t_stop, kills, exits, wins, totals,
                  dict(wcounts), client_rows, {k: v for k, v in checks.items()}, drain_s)


# ---------------------------------------------------------------------------- report

def per_component(res):
    """Rows of the final table: the steady window, one row per killed component, the total."""
    rows = []
    order = ["steady"] + [c for c in COMPONENTS if any(k.component == c for k in res.kills)]
    for name in order:
        ws = [w for w in res.windows if w["component"] == name]
        if not ws:
            continue
        row = {key: sum(w[key] for w in ws) for key in ws[0] if key != "component"}
        ks = [k for k in res.kills if k.component == name]
        rec = [k.recovery for k in ks]
        row.update(component=name, kills=len(ks),
                   down=[k.t_restart - k.t_kill for k in ks],
                   ready=[k.t_ready - k.t_restart for k in ks],
                   recovery=rec, self_exits=res.self_exits.get(name, "0/0"))
        rows.append(row)
    ex = [tuple(map(int, v.split("/"))) for v in res.self_exits.values()]
    tot = dict(res.totals, component="total", kills=len(res.kills), down=[], ready=[],
               recovery=[], self_exits=f"{sum(e[0] for e in ex)}/{sum(e[1] for e in ex)}")
    rows.append(tot)
    return rows


def _fmt_secs(xs):
    if not xs:
        return "-"
    vals = ["∞" if x is None else f"{x:.1f}" for x in xs]
    if len(vals) <= 3:
        return " ".join(vals)
    known = [x for x in xs if x is not None]
    med = f"{statistics.median(known):.1f}" if known else "-"
    return f"med {med} max {'∞' if None in xs else f'{max(known):.1f}'}"


def table(res, markdown=False):
    cols = ["component", "kills", "committed", "published", "topic rep.", "expected",
            "delivered", "dup.", "lost topic", "lost clients", "ready s", "recovery s",
            "exits/liveness"]
    lines = []
    data = []
    for r in per_component(res):
        data.append([r["component"], str(r["kills"]), str(r["committed"]), str(r["published"]),
                     str(r["topic_repeats"]), str(r["expected"]), str(r["delivered"]),
                     str(r["duplicates"]), str(r["lost_topic"]), str(r["lost_clients"]),
                     _fmt_secs(r["ready"]), _fmt_secs(r["recovery"]), str(r["self_exits"])])
    if markdown:
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|")
        lines += ["| " + " | ".join(d) + " |" for d in data]
    else:
        widths = [max(len(cols[i]), *(len(d[i]) for d in data)) for i in range(len(cols))]
        fmt = lambda row: "  ".join(v.ljust(widths[i]) if i == 0 else v.rjust(widths[i])  # noqa: E731
                                    for i, v in enumerate(row))
        lines.append(fmt(cols))
        lines += [fmt(d) for d in data]
    return "\n".join(lines)


def report(res, markdown=False):
    """The final table, the kills in order, the client and writer counts, and every check."""
    out = [table(res, markdown), ""]
    out.append("Rows: changes committed from a kill of the component to the next kill (steady: "
               "before the first); repeats and duplicates are counted in the window they were "
               "seen in. committed: the ledger's changes; published: of those, on "
               "modelcast.changes (distinct ce_id); topic rep.: extra copies of a ce_id there "
               "(at-least-once relay); expected: deliveries the clients' channels are entitled "
               "to; delivered: of those, received; dup.: frames received again (same event id, "
               "or the same change under another); lost: committed but not on the topic / "
               "expected but not received; ready: restart → deploy/local/up done; recovery: "
               "restart → the first change written after the restart reaches a client; "
               "exits/liveness: restarts by the harness after the process exited by itself / "
               "after /healthz failed.")
    out.append("")
    if markdown:
        out.append("```")
    out.append("kills (seconds from the start; down = killed → restart issued):")
    for k in res.kills:
        rec = f"{k.recovery:.1f}" if k.recovery is not None else "none"
        out.append(f"  +{k.t_kill - res.t0:6.1f}s {k.component:<9} pid {k.pid:<7} down "
                   f"{k.t_restart - k.t_kill:4.1f}  ready {k.t_ready - k.t_restart:5.1f}  "
                   f"recovery {rec}" + (f"  ({k.restart_attempts} up attempts)" if k.restart_attempts > 1 else ""))
    out.append("writes: " + ", ".join(f"{k} {v}" for k, v in sorted(res.writers.items())))
    out.append("clients:")
    for name, c in res.clients.items():
        out.append(f"  {name:<8} " + ", ".join(f"{k} {v}" for k, v in c.items()))
    out.append(f"drain: {res.drain_s:.1f}s")
    bad = res.failures()
    out.append("checks: " + ("all hold" if not bad else "FAILED: " + ", ".join(sorted(bad))))
    for name, items in sorted(bad.items()):
        out.append(f"  {name}:")
        out += [f"    {x}" for x in items[:EXAMPLES * 2]]
    if markdown:
        out.append("```")
    return "\n".join(out)


def to_json(res):
    return {
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(res.opts).items()
                    if k not in ("progress", "tick")},
        "kills": [dict(component=k.component, pid=k.pid, at=k.t_kill - res.t0,
                       down=k.t_restart - k.t_kill, ready=k.t_ready - k.t_restart,
                       recovery=k.recovery) for k in res.kills],
        "per_component": [{k: v for k, v in r.items()} for r in per_component(res)],
        "writers": res.writers, "clients": res.clients, "self_exits": res.self_exits,
        "drain_s": res.drain_s, "checks": res.checks,
    }



# ---------------------------------------------------------------------------- command lines

def build_release(build_dir, log_file):
    """Builds the three services into build_dir (release, as the other benchmarks do)."""
    with open(log_file, "w") as log:
        for cmd in (["cmake", "-S", str(REPO), "-B", str(build_dir), "-G", "Ninja",
                     f"-DCMAKE_BUILD_TYPE={os.environ.get('BUILD_TYPE', 'RelWithDebInfo')}"],
                    ["cmake", "--build", str(build_dir), "--target", "modelcast-model-api",
                     "modelcast-authz", "modelcast-pusher"]):
            if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                raise SystemExit(f"build failed: see {log_file}")


def start_private_stack(var_dir, build_dir):
    """A fresh stack on free ports in var_dir (an earlier one there is stopped and dropped)."""
    import shutil

    import pytest

    os.environ["MC_BUILD_DIR"] = str(build_dir)
    os.environ.setdefault("MC_LOG_LEVEL", "info")
    env = dict(os.environ, MC_VAR=str(var_dir))
    if (var_dir / "run").exists():
        conftest._run_script("down", env, 120)
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    try:
        return conftest.start_stack(var_dir)
    except pytest.fail.Exception as e:
        raise SystemExit(f"cannot start the stack: {e}")
