"""Pusher under hostile or unlucky conditions (issue 12 items 3-8, issue 9's Origin check):
bounded pending subscriptions, one token per connection, a subscribe never queued behind
replays, nothing older than a subscription's position while the feed is behind, no answer
before the feed is positioned, the HTTP port's 405 without a leak, unmasked client frames,
a large replay to a reader that stalls, and the WebSocket Origin allowlist.

Several tests run a private pusher (test_pusher.Pusher) whose Kafka consumers fetch one record
batch per request (fetch.message.max.bytes=1) and deliveries written one record per batch:
the pusher then reads a few thousand deliveries slowly, so its feed is provably behind and a
replay provably long, without any sleep. Every wait has a deadline; no timing assertions.
"""

import contextlib
import json
import socket
import threading
import time
import uuid

import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from test_pusher import (DELIVERIES, FAKE_MODEL, HTTP_TIMEOUT, Pusher, RawWs, check_eq,
                         next_frame, pos_tuple, private_channel, recv_json, subscribe,
                         subscribed)

DEADLINE_S = 30
# The private pushers' consumers take one record batch per fetch (see the module comment).
SLOW_FETCH = {"MC_KAFKA_FETCH_MESSAGE_MAX_BYTES": 1}


# ------------------------------------------------------------------------------- helpers

class BlackHole:
    """A TCP listener that accepts connections and never answers: an authz that hangs, so
    that subscriptions stay pending for as long as a test needs. close() drops them all."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held = []
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(c)

    def close(self):
        self.closed = True
        self.sock.close()
        for c in self.held:
            c.close()


def produce(stack, channel, n, attr_bytes=40, first_id=1, one_per_batch=True):
    """Writes n deliveries of channel (ids first_id...) straight to the deliveries topic; with
    one_per_batch every record is its own batch (a throttled consumer reads one per fetch)."""
    conf = {"bootstrap.servers": stack.kafka_bootstrap, "partitioner": "murmur2_random"}
    conf.update({"linger.ms": 0, "batch.num.messages": 1} if one_per_batch else {"linger.ms": 5})
    p = Producer(conf)
    filler = "x" * attr_bytes
    for i in range(first_id, first_id + n):
        v = {"channel": channel, "model": FAKE_MODEL, "id": i, "op": "create", "version": 1,
             "attributes": {"id": i, "definition": filler}, "changed": ["definition"],
             "event_id": str(uuid.uuid4())}
        while True:
            try:
                p.produce(DELIVERIES, key=channel, value=json.dumps(v))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    assert left == 0, f"{left} deliveries not acknowledged by Kafka within 60s"


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def wait_metric(pusher, name, predicate, what, deadline_s=DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while True:
        v = pusher.metric(name)
        if predicate(v):
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: {name} is {v} after {deadline_s}s")
        time.sleep(0.05)


def changes_until(conn, done, what, deadline_s=DEADLINE_S):
    """Reads frames until done(frame); returns every frame read (done's included)."""
    deadline = time.monotonic() + deadline_s
    frames = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {what} within {deadline_s}s; last frames: {frames[-5:]!r}")
        try:
            f = json.loads(conn.recv(timeout=left))
        except TimeoutError:
            continue
        frames.append(f)
        if done(f):
            return frames


def end_position(url, channel, token):
    """The channel's position now: a plain subscribe's answer on a throwaway connection."""
    with ws_connect(url, open_timeout=10) as c:
        c.send(json.dumps({"type": "auth", "token": token}))
        subscribe(c, channel)
        return subscribed(c, channel)[0]["position"]


@pytest.fixture(scope="module")
def slow_reader(stack, tmp_path_factory):
    """A private pusher whose Kafka consumers read one record batch per fetch."""
    p = Pusher(stack, tmp_path_factory.mktemp("slow-reader"), MC_WORKERS=1, **SLOW_FETCH)
    yield p
    p.stop()


# ---------------------------------------------------- pending subscriptions (issue 12.3, 12.4)

def test_pending_subscriptions_are_bounded_per_connection_and_per_instance(stack, tmp_path):
    """authz hangs: subscriptions stay pending. Over MC_MAX_PENDING_SUBSCRIPTIONS on one
    connection, or MC_MAX_PENDING_TOTAL in the instance, a subscribe is refused at once with
    error `busy`; the connection stays usable and an unsubscribe makes room again."""
    hole = BlackHole()
    # One resume thread: it takes a's first subscription and hangs on authz with it; the
    # others wait in the queue, where an unsubscribe takes them out at once.
    p = Pusher(stack, tmp_path, MC_AUTHZ_URL=hole.url, MC_AUTHZ_TIMEOUT_MS=60000,
               MC_MAX_PENDING_SUBSCRIPTIONS=4, MC_MAX_PENDING_TOTAL=6, MC_WORKERS=1,
               MC_RESUME_THREADS=1)
    try:
        with ws_connect(p.url, open_timeout=10) as a, ws_connect(p.url, open_timeout=10) as b:
            for i in range(5):
                subscribe(a, f"Pending-a{i}")
            f = recv_json(a, deadline_s=10, what="the answer to a fifth pending subscribe")
            check_eq((f.get("type"), f.get("code"), f.get("channel")),
                     ("error", "busy", "Pending-a4"), f"fifth pending subscribe ({f!r})")
            for i in range(3):
                subscribe(b, f"Pending-b{i}")
            f = recv_json(b, deadline_s=10, what="the answer to a seventh pending subscribe")
            check_eq((f.get("type"), f.get("code"), f.get("channel")),
                     ("error", "busy", "Pending-b2"), f"seventh pending subscribe ({f!r})")
            assert "MC_MAX_PENDING_TOTAL" not in f["message"], f"message leaks a setting: {f!r}"
            # Both connections still answer, and an unsubscribe frees a place at once.
            a.send(json.dumps({"type": "unsubscribe", "channel": "Pending-a1"}))
            check_eq(recv_json(a).get("type"), "unsubscribed", "answer to unsubscribe")
            subscribe(b, "Pending-b2")
            b.send(json.dumps({"type": "ping"}))
            check_eq(recv_json(b), {"type": "pong"}, "answer after the retried subscribe")
    finally:
        hole.close()
        p.stop()


def test_a_token_is_held_once_per_connection_not_per_pending_subscription(stack, tmp_path):
    """100 connections, each with an 8 KiB token and 64 pending subscriptions (authz hangs):
    copying the token into each of the 6,400 subscriptions would take 52 MB."""
    hole = BlackHole()
    p = Pusher(stack, tmp_path, MC_AUTHZ_URL=hole.url, MC_AUTHZ_TIMEOUT_MS=60000,
               MC_MAX_PENDING_SUBSCRIPTIONS=64, MC_MAX_PENDING_TOTAL=100000, MC_WORKERS=1)
    conns, per_conn = 100, 64
    token = "t" * 8192
    try:
        rss0 = rss_bytes(p.proc.pid)
        with contextlib.ExitStack() as es:
            for i in range(conns):
                c = es.enter_context(ws_connect(p.url, open_timeout=10))
                c.send(json.dumps({"type": "auth", "token": token}))
                for k in range(per_conn):
                    subscribe(c, f"Held-{i}-{k}")
            wait_metric(p, "modelcast_pusher_subscriptions", lambda v: v >= conns * per_conn,
                        "pending subscriptions")
            grown = rss_bytes(p.proc.pid) - rss0
            print(f"RSS grew {grown / 1e6:.1f} MB for {conns * per_conn} pending subscriptions")
            # Held once: ~1 MB of tokens; the rest is the subscriptions themselves (and, in
            # the sanitizer build, its redzones and quarantine: ~22 MB there, ~95 MB when
            # each subscription copied the token).
            assert grown < 45e6, (f"RSS grew {grown / 1e6:.1f} MB: the token is copied per "
                                  "subscription (52 MB of copies)")
    finally:
        hole.close()
        p.stop()


def test_a_plain_subscribe_is_not_queued_behind_replays(stack, slow_reader):
    """Two long replays (3,000 and 4,000 deliveries, read one per fetch) are under way; a plain
    subscribe on the first replay's connection is answered while that replay still runs -
    not after it, as when authorization and replays shared two threads."""
    channel, token = private_channel()
    url = slow_reader.url
    p0 = end_position(url, channel, token)
    produce(stack, channel, 1000)
    p1 = end_position(url, channel, token)
    produce(stack, channel, 3000, first_id=1001)
    with ws_connect(url, open_timeout=10, max_queue=None) as x, \
            ws_connect(url, open_timeout=10, max_queue=None) as r2:
        x.send(json.dumps({"type": "auth", "token": token}))
        subscribe(x, channel, since=p1)
        f, resync = subscribed(x, channel)
        assert not resync and f["position"] == p1, f"replay answer {f!r}"
        r2.send(json.dumps({"type": "auth", "token": token}))
        subscribe(r2, channel, since=p0)
        f, resync = subscribed(r2, channel)
        assert not resync, f"second replay answer {f!r}"
        # A plain subscribe on the same connection, to a channel its token may see.
        subscribe(x, "Application")
        frames = changes_until(
            x, lambda f: f.get("type") == "subscribed" and f.get("channel") == "Application",
            "'subscribed' for Application")
        replayed_before = [f for f in frames if f.get("type") == "change"]
        print(f"'subscribed' for Application after {len(replayed_before)} of 3000 replayed")
        assert len(replayed_before) < 3000, "the plain subscribe waited for the whole replay"
        # The replay goes on to the end, in order, without a gap or a repeat.
        rest = changes_until(x, lambda f: f.get("type") == "change" and f.get("id") == 4000,
                             "the last replayed change", deadline_s=120)
        ids = [f["id"] for f in replayed_before + rest if f.get("type") == "change"
               and f.get("channel") == channel]
        check_eq(ids, list(range(1001, 4001)), "ids replayed after p1")
        positions = [pos_tuple(f["position"]) for f in replayed_before + rest
                     if f.get("type") == "change"]
        assert positions == sorted(set(positions)), "positions not strictly increasing"


# ------------------------------------------------------ positions and readiness (issue 12.6)

def test_a_live_subscription_gets_nothing_at_or_below_its_position_while_the_feed_is_behind(
        stack, slow_reader):
    channel, token = private_channel()
    n = 4000
    in0 = slow_reader.metric("modelcast_pusher_deliveries_in_total")
    produce(stack, channel, n)
    with ws_connect(slow_reader.url, open_timeout=10, max_queue=None) as c:
        c.send(json.dumps({"type": "auth", "token": token}))
        subscribe(c, channel)
        f, _ = subscribed(c, channel)
        pos = pos_tuple(f["position"])
        behind = in0 + n - slow_reader.metric("modelcast_pusher_deliveries_in_total")
        print(f"subscribed at {f['position']} with the feed {behind:.0f} deliveries behind")
        assert behind > 0, "the feed caught up before 'subscribed': nothing to show (test bug)"
        produce(stack, channel, 1, first_id=n + 1)
        frames = changes_until(c, lambda f: f.get("type") == "change" and f.get("id") == n + 1,
                               "the delivery written after 'subscribed'", deadline_s=120)
    old = [(g["id"], g["position"]) for g in frames
           if g.get("type") == "change" and pos_tuple(g["position"]) <= pos]
    assert not old, f"{len(old)} frames at or below the subscribed position {pos}: {old[:5]}"
    check_eq([g["id"] for g in frames if g.get("type") == "change"], [n + 1],
             "changes after 'subscribed'")


def test_subscriptions_wait_until_the_feed_is_positioned(stack, tmp_path):
    """The pusher's deliveries topic does not exist yet: /readyz says 503 and a subscribe is
    not answered until the topic exists and the feed is positioned; then the subscription is
    live from its position."""
    topic = f"deliveries-{uuid.uuid4().hex[:8]}"
    p = Pusher(stack, tmp_path, wait_ready=False, MC_DELIVERIES_TOPIC=topic, MC_WORKERS=1)
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    try:
        check_eq(requests.get(f"{p.http}/readyz", timeout=HTTP_TIMEOUT).status_code, 503,
                 "/readyz before the feed is positioned")
        channel, token = private_channel()
        with ws_connect(p.url, open_timeout=10) as c:
            c.send(json.dumps({"type": "auth", "token": token}))
            subscribe(c, channel)
            c.send(json.dumps({"type": "ping"}))
            check_eq(recv_json(c), {"type": "pong"}, "first answer (the subscribe waits)")
            for fut in admin.create_topics([NewTopic(topic, 4, 1)]).values():
                fut.result(30)
            f, _ = subscribed(c, channel)
            check_eq(requests.get(f"{p.http}/readyz", timeout=HTTP_TIMEOUT).status_code, 200,
                     "/readyz once the subscription was answered")
            prod = Producer({"bootstrap.servers": stack.kafka_bootstrap,
                             "partitioner": "murmur2_random"})
            prod.produce(topic, key=channel, value=json.dumps(
                {"channel": channel, "model": FAKE_MODEL, "id": 1, "op": "create",
                 "version": 1, "attributes": {"id": 1}, "changed": [],
                 "event_id": str(uuid.uuid4())}))
            assert prod.flush(30) == 0, "delivery not acknowledged"
            g = next_frame(c, lambda g: g.get("type") == "change", "the first delivery")
            assert pos_tuple(g["position"]) > pos_tuple(f["position"]), (g, f)
    finally:
        p.stop()
        admin.delete_topics([topic])


# --------------------------------------------------------------- the HTTP port (issue 12.5)

def test_post_and_put_get_405_without_a_leak(stack, tmp_path):
    """Every POST/PUT (with and without a body) is answered 405 with its JSON body; at exit
    the sanitizer build finds nothing leaked (Pusher.stop checks the log and exit status)."""
    p = Pusher(stack, tmp_path, MC_WORKERS=1)
    try:
        with requests.Session() as s:
            for i in range(200):
                method = ("POST", "PUT")[i % 2]
                body = b"x" * (i * 37 % 3000) if i % 3 else None
                r = s.request(method, f"{p.http}/{('healthz', 'ws', 'nope')[i % 3]}",
                              data=body, timeout=HTTP_TIMEOUT)
                check_eq(r.status_code, 405, f"{method} #{i}")
                check_eq(r.json()["error"]["code"], "method_not_allowed", f"{method} #{i} body")
        check_eq(requests.get(f"{p.http}/healthz", timeout=HTTP_TIMEOUT).status_code, 200,
                 "GET after the refused methods")
    finally:
        p.stop()


# ----------------------------------------------------------- the WebSocket wire (issue 12.7)

def test_an_unmasked_client_frame_closes_with_1002(stack):
    """RFC 6455 5.1: a server MUST close the connection on an unmasked client frame."""
    for payload in (json.dumps({"type": "ping"}).encode(), b""):
        raw = RawWs(stack.pusher_ws_url)
        try:
            opcode = 0x1 if payload else 0x9  # a text frame, then a ping control frame
            raw.s.sendall(bytes([0x80 | opcode, len(payload)]) + payload)
            texts, code, _ = raw.read_messages_until_close(DEADLINE_S)
            check_eq(code, 1002, f"close code after an unmasked opcode {opcode:#x} frame")
            check_eq(texts, [], "answers to the unmasked frame")
        finally:
            raw.close()
    # A masked frame right after the handshake is still served normally.
    raw = RawWs(stack.pusher_ws_url)
    try:
        raw.send_text(json.dumps({"type": "ping"}))
        raw.s.settimeout(10)
        data = b""
        while len(data) < 2 or len(data) < 2 + (data[1] & 0x7F):
            data += raw.s.recv(4096)
        check_eq(json.loads(data[2:2 + (data[1] & 0x7F)]), {"type": "pong"}, "masked ping")
    finally:
        raw.close()


# ------------------------------------------------- a large replay to a slow reader (issue 12.8)

def test_a_large_replay_to_a_reader_that_stalls_ends_in_4008_not_in_memory(stack, tmp_path):
    """A client resumes 1,500 deliveries of 1 KB (1.5 MB) through a 64 KiB send queue and
    does not read: the replay keeps what waits for it under half the queue, and when the
    client has read nothing for MC_REPLAY_TIMEOUT_MS (3 s here) the pusher closes it with
    4008. What it had received is a gap-free prefix in order; the pusher's queues hold
    nothing afterwards; another client resuming the same range, reading as it goes, gets
    all of it through the same 64 KiB bound."""
    p = Pusher(stack, tmp_path, MC_SEND_QUEUE_MAX=65536, MC_REPLAY_TIMEOUT_MS=3000,
               MC_WORKERS=1)
    channel, token = private_channel()
    try:
        p0 = end_position(p.url, channel, token)
        in0 = p.metric("modelcast_pusher_deliveries_in_total")
        produce(stack, channel, 1500, attr_bytes=1000, one_per_batch=False)
        # Once the live feed has passed them, only the replays carry these deliveries.
        wait_metric(p, "modelcast_pusher_deliveries_in_total", lambda v: v >= in0 + 1500,
                    "the feed reading the deliveries")
        drops0 = p.metric("modelcast_pusher_drops_total")
        slow = RawWs(p.url)
        try:
            slow.send_text(json.dumps({"type": "auth", "token": token}))
            slow.send_text(json.dumps({"type": "subscribe", "channel": channel, "since": p0}))
            wait_metric(p, "modelcast_pusher_drops_total", lambda v: v > drops0,
                        "the stalled reader was not dropped")
            with ws_connect(p.url, open_timeout=10, max_queue=None, max_size=None) as fast:
                fast.send(json.dumps({"type": "auth", "token": token}))
                subscribe(fast, channel, since=p0)
                subscribed(fast, channel)
                frames = changes_until(fast, lambda f: f.get("id") == 1500,
                                       "the whole replay on the reading client")
                check_eq([f["id"] for f in frames if f.get("type") == "change"],
                         list(range(1, 1501)), "ids the reading client got")
            texts, code, nbytes = slow.read_messages_until_close(DEADLINE_S)
        finally:
            slow.close()
        msgs = [json.loads(t) for t in texts]
        ids = [m["id"] for m in msgs if m.get("type") == "change"]
        print(f"stalled reader: {len(ids)} changes, {nbytes} bytes, then close {code}")
        check_eq(code, 4008, "close code of the stalled reader")
        check_eq(msgs[0].get("type"), "subscribed", "first frame of the stalled reader")
        check_eq(ids, list(range(1, len(ids) + 1)), "the stalled reader's prefix")
        assert len(ids) < 1500, "the stalled reader got everything: nothing was bounded"
        wait_metric(p, "modelcast_pusher_queue_bytes", lambda v: v == 0,
                    "bytes left queued after both clients left")
    finally:
        p.stop()


# ------------------------------------------------------------------- Origin (issue 9 item 1)

def ws_origin(url, origin):
    """Connects with an Origin header (None: without one) and subscribes to Application;
    returns 'subscribed', or ('closed', code, reason) when the pusher closed instead."""
    kw = {"origin": origin} if origin else {}
    try:
        with ws_connect(url, open_timeout=10, **kw) as c:
            subscribe(c, "Application")
            f = recv_json(c)
            return f.get("type")
    except ConnectionClosed as e:
        return ("closed", e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else None)


def test_origin_default_same_origin_or_none_and_refused_with_4003(stack):
    port = stack.ports["pusher"]
    url = stack.pusher_ws_url
    check_eq(ws_origin(url, None), "subscribed", "no Origin (a non-browser client)")
    check_eq(ws_origin(url, f"http://127.0.0.1:{port}"), "subscribed", "same origin as Host")
    sizes = stack.log_sizes()
    check_eq(ws_origin(url, "http://evil.example"), ("closed", 4003, "origin not allowed"),
             "another origin")
    check_eq(ws_origin(url, f"http://127.0.0.1:{port + 1}"),
             ("closed", 4003, "origin not allowed"), "another port")
    logged = stack.logs_since(sizes)
    assert "http://evil.example" in logged and "origin" in logged, \
        f"no log line for the refused origin:\n{logged}"


def test_origin_allowlist_exact_and_star(stack, tmp_path):
    p = Pusher(stack, tmp_path, MC_WORKERS=1,
               MC_WS_ORIGINS="https://app.example, http://other.example:8080")
    try:
        for origin in ("https://app.example", "http://other.example:8080", None,
                       f"http://127.0.0.1:{p.port}"):
            check_eq(ws_origin(p.url, origin), "subscribed", f"Origin {origin}")
        for origin in ("https://app.example:8443", "http://app.example", "null",
                       "https://app.example.evil"):
            check_eq(ws_origin(p.url, origin), ("closed", 4003, "origin not allowed"),
                     f"Origin {origin}")
    finally:
        p.stop()
    p = Pusher(stack, tmp_path, MC_WORKERS=1, MC_WS_ORIGINS="*")
    try:
        check_eq(ws_origin(p.url, "http://anything.example"), "subscribed", "Origin with *")
    finally:
        p.stop()


def test_a_bad_origin_setting_names_itself():
    from test_pusher import run_pusher
    for value in ("app.example", "https://app.example/", "https://app.example/path", ","):
        proc = run_pusher(MC_WS_ORIGINS=value)
        check_eq(proc.returncode, 2, f"exit status with MC_WS_ORIGINS={value!r}")
        assert "MC_WS_ORIGINS" in proc.stderr, proc.stderr
