"""Pusher: the WebSocket protocol (docs/protocol.md) against the real stack - protocol errors,
resume with `since` across a disconnect during a burst of REST writes, `resync` after Kafka
dropped a position, the slow-consumer drop (4008), and two pushers (one with two workers on
one port) serving the same deliveries.

Every wait has a deadline; no fixed sleeps; no timing assertions.
"""

import base64
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka import Producer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

import random

import tokens
from conftest import DEPLOY, REPO, free_ports

MODEL = "Dictionary"
# Deliveries this module writes straight to Kafka name a model no real change uses, so tests
# sharing the stack that look for Dictionary deliveries never mistake them for real ones.
FAKE_MODEL = "PusherBench"
CHANNEL = "Application"
DELIVERIES = "modelcast.deliveries"
HTTP_TIMEOUT = 10
DEADLINE_S = 30


# ------------------------------------------------------------------------------- helpers

def check_eq(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def recv_json(conn, deadline_s=DEADLINE_S, what="a frame"):
    try:
        raw = conn.recv(timeout=deadline_s)
    except TimeoutError:
        pytest.fail(f"no {what} within {deadline_s}s")
    return json.loads(raw)


def next_frame(conn, match, what, deadline_s=DEADLINE_S):
    """Reads frames until match(frame); fails after deadline_s listing what came."""
    deadline = time.monotonic() + deadline_s
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {what} within {deadline_s}s; frames received: {seen[-20:]!r}")
        try:
            frame = json.loads(conn.recv(timeout=left))
        except TimeoutError:
            continue
        if match(frame):
            return frame
        seen.append(frame)


def subscribe(conn, channel=CHANNEL, since=None):
    msg = {"type": "subscribe", "channel": channel}
    if since is not None:
        msg["since"] = since
    conn.send(json.dumps(msg))


def subscribed(conn, channel=CHANNEL):
    """Waits for 'subscribed' (a 'resync' may come first); returns (frame, resync_seen)."""
    resync = False
    while True:
        f = next_frame(conn, lambda f: f.get("type") in ("subscribed", "resync", "error"),
                       f"'subscribed' for {channel}")
        if f["type"] == "resync":
            check_eq(f.get("channel"), channel, "resync channel")
            resync = True
            continue
        check_eq(f.get("type"), "subscribed", f"answer to subscribe ({f!r})")
        check_eq(f.get("channel"), channel, "subscribed channel")
        return f, resync


def pos_tuple(pos):
    p, o = pos.split(":")
    return int(p), int(o)


def post_word(stack, tag):
    r = requests.post(f"{stack.api_url}/v1/{MODEL}",
                      json={"word": f"w-{tag}", "definition": f"d-{tag}", "pronunciation": "p"},
                      timeout=HTTP_TIMEOUT)
    check_eq(r.status_code, 201, f"POST status (body {r.text!r})")
    return r.json()


def patch_word(stack, rec_id, text):
    r = requests.patch(f"{stack.api_url}/v1/{MODEL}/{rec_id}", json={"definition": text},
                       timeout=HTTP_TIMEOUT)
    check_eq(r.status_code, 200, f"PATCH status (body {r.text!r})")
    return r.json()


def kafka_tool(stack, cls, *args, timeout=60):
    """Runs an org.apache.kafka.tools class from deploy/local/kafka-libs."""
    cp = str(DEPLOY / "kafka-libs" / "*")
    proc = subprocess.run(["java", "-cp", cp, cls, "--bootstrap-server", stack.kafka_bootstrap,
                           *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cls} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def produce_deliveries(stack, channel, n, attr_bytes, first_id=1, producer=None):
    """Writes n deliveries for channel straight to the deliveries topic (key = channel), with
    ids first_id, first_id + 1... (through producer when given)."""
    p = producer or Producer({"bootstrap.servers": stack.kafka_bootstrap,
                              "partitioner": "murmur2_random", "linger.ms": 5})
    filler = "x" * attr_bytes
    for i in range(first_id - 1, first_id - 1 + n):
        v = {"channel": channel, "model": FAKE_MODEL, "id": i + 1, "op": "create", "version": 1,
             "attributes": {"id": i + 1, "definition": filler}, "changed": ["definition"],
             "event_id": str(uuid.uuid4())}
        while True:
            try:
                p.produce(DELIVERIES, key=channel, value=json.dumps(v))
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(30)
    assert left == 0, f"{left} deliveries not acknowledged by Kafka within 30s"


def pusher_binary():
    build = Path(os.environ.get("MC_BUILD_DIR", str(REPO / "build")))
    return str(build / "services/pusher/modelcast-pusher")


class Pusher:
    """A private modelcast-pusher against the stack's Kafka, on its own port."""

    def __init__(self, stack, tmp_path, wait_ready=True, **env):
        """Starts the pusher and waits until /readyz answers 200 (wait_ready) or, when the
        test wants it not ready yet, until /healthz does."""
        self.port = free_ports(1)[0]
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        self.http = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tmp_path) / f"pusher-{self.port}.log"
        e = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
        e.update({"MC_HTTP_BIND": "127.0.0.1", "MC_HTTP_PORT": str(self.port),
                  "MC_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap, "MC_LOG_LEVEL": "info",
                  "MC_AUTHZ_URL": stack.authz_url})
        e.update({k: str(v) for k, v in env.items()})
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([pusher_binary()], env=e,
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        probe = "/readyz" if wait_ready else "/healthz"
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"pusher exited ({self.proc.returncode}) before ready:\n{self.log()}")
            try:
                if requests.get(f"{self.http}{probe}", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop(check=False)
                pytest.fail(f"pusher not ready within 60s:\n{self.log()}")
            time.sleep(0.1)

    def log(self):
        return self.log_path.read_text(errors="replace")[-6000:]

    def metric(self, name):
        text = requests.get(f"{self.http}/metrics", timeout=HTTP_TIMEOUT).text
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self, check=True):
        """SIGTERM (SIGKILL after 15 s). With check, fails the test when the pusher did not
        exit 0 or a sanitizer reported anything (a leak at exit makes LeakSanitizer print
        its report on stderr, which is the log, and exit non-zero)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self.log_file.closed:
            self.log_file.close()
        if check:
            text = self.log_path.read_text(errors="replace")
            reports = [m for m in ("LeakSanitizer", "AddressSanitizer", "runtime error:")
                       if m in text]
            assert not reports and self.proc.returncode == 0, (
                f"pusher :{self.port} exited {self.proc.returncode} with sanitizer reports "
                f"{reports}:\n{text[-8000:]}")


@pytest.fixture(scope="module")
def pusher2(stack, tmp_path_factory):
    """A second pusher: two workers on one port, small send queues (16 KiB)."""
    p = Pusher(stack, tmp_path_factory.mktemp("pusher2"), MC_WORKERS=2,
               MC_SEND_QUEUE_MAX=16384)
    yield p
    p.stop()


@pytest.fixture
def pusher2_log_on_failure(request, pusher2):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"----- second pusher log -----\n{pusher2.log()}")


# ------------------------------------------------------------------------ protocol errors

def private_channel():
    """A User-<n> channel of a fresh user, and that user's token (policies: own channel only)."""
    uid = random.randrange(10**6, 10**9)
    return f"User-{uid}", tokens.user(uid)


def test_protocol_errors_get_error_frames_and_the_connection_survives(stack):
    channel, token = private_channel()
    with ws_connect(stack.pusher_ws_url, open_timeout=10) as c:
        c.send(json.dumps({"type": "auth", "token": token}))
        cases = [
            ("not json", "bad_frame"),
            ("[1,2]", "bad_frame"),
            (json.dumps({"no": "type"}), "bad_frame"),
            (json.dumps({"type": "dance"}), "unknown_type"),
            (json.dumps({"type": "subscribe"}), "bad_channel"),
            (json.dumps({"type": "subscribe", "channel": "a b"}), "bad_channel"),
            (json.dumps({"type": "subscribe", "channel": "X", "since": "soon"}), "bad_since"),
            (json.dumps({"type": "subscribe", "channel": "X", "since": "1:-7"}), "bad_since"),
            (json.dumps({"type": "auth", "token": "late"}), "out_of_order"),
            (b"\x00\x01binary", "bad_frame"),
        ]
        for raw, code in cases:
            c.send(raw)
            f = recv_json(c, what=f"error for {raw!r}")
            check_eq((f.get("type"), f.get("code")), ("error", code), f"answer to {raw!r} ({f!r})")
            assert isinstance(f.get("message"), str) and f["message"], f"error message: {f!r}"
        subscribe(c, channel)
        subscribed(c, channel)
        subscribe(c, channel)
        f = recv_json(c)
        check_eq((f.get("type"), f.get("code"), f.get("channel")),
                 ("error", "already_subscribed", channel), f"second subscribe ({f!r})")
        c.send(json.dumps({"type": "unsubscribe", "channel": channel}))
        check_eq(recv_json(c).get("type"), "unsubscribed", "answer to unsubscribe")
        c.send(json.dumps({"type": "ping"}))
        check_eq(recv_json(c), {"type": "pong"}, "answer to ping after the errors")


def test_oversized_frame_closes_with_1009(stack):
    with ws_connect(stack.pusher_ws_url, open_timeout=10, max_size=None) as c:
        c.send(json.dumps({"type": "ping", "pad": "x" * 70000}))  # MC_MAX_FRAME is 64 KiB
        with pytest.raises(ConnectionClosed) as e:
            c.recv(timeout=DEADLINE_S)
        check_eq(e.value.rcvd.code if e.value.rcvd else None, 1009, "close code")


def test_resync_for_positions_not_in_kafka(stack):
    with ws_connect(stack.pusher_ws_url, open_timeout=10) as c:
        subscribe(c, CHANNEL)
        first, _ = subscribed(c)
        p, o = pos_tuple(first["position"])
        # A position past the end, and one in another partition than the channel's.
        for since in (f"{p}:{o + 1000000}", f"{(p + 1) % 4}:0"):
            c.send(json.dumps({"type": "unsubscribe", "channel": CHANNEL}))
            next_frame(c, lambda f: f.get("type") == "unsubscribed", "unsubscribed")
            subscribe(c, CHANNEL, since)
            f, resync = subscribed(c)
            assert resync, f"since={since}: expected 'resync' before {f!r}"
            check_eq(pos_tuple(f["position"])[0], p, "partition of the fresh position")


# ------------------------------------------------------------------------------- resume

def test_resume_after_disconnect_during_a_burst_misses_and_repeats_nothing(stack):
    n_records, n_patches = 15, 3
    written = {}          # id -> highest version written
    errors = []

    with ws_connect(stack.pusher_ws_url, open_timeout=10, max_queue=None) as c:
        subscribe(c)
        start, _ = subscribed(c)

        def writer():
            try:
                for i in range(n_records):
                    rec = post_word(stack, f"burst-{uuid.uuid4().hex[:8]}")
                    written[rec["id"]] = 1
                    for k in range(n_patches):
                        written[rec["id"]] = patch_word(stack, rec["id"], f"v{k}")["version"]
            except Exception as e:  # reported below
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        got = []
        # Read part of the burst, then drop the connection while writes go on.
        while len(got) < 10:
            f = next_frame(c, lambda f: f.get("type") == "change", "a change of the burst")
            got.append(f)
    last = got[-1]["position"] if got else start["position"]

    with ws_connect(stack.pusher_ws_url, open_timeout=10, max_queue=None) as c:
        subscribe(c, since=last)
        f, resync = subscribed(c)
        assert not resync, "resume within retention must not resync"
        check_eq(f["position"], last, "subscribed position on resume")
        t.join(120)
        assert not t.is_alive(), "the writer did not finish in 120s"
        assert not errors, f"writer failed: {errors!r}"
        want = {(i, v) for i, top in written.items() for v in range(1, top + 1)}

        def mine():
            return {(g["id"], g["version"]) for g in got if g.get("model") == MODEL} & want

        deadline = time.monotonic() + DEADLINE_S
        while not want <= mine():
            if time.monotonic() > deadline:
                pytest.fail(f"missing after {DEADLINE_S}s: {sorted(want - mine())[:20]}")
            try:
                f = json.loads(c.recv(timeout=1))
            except TimeoutError:
                continue
            if f.get("type") == "change":
                got.append(f)

    pairs = [(g["id"], g["version"]) for g in got if (g["id"], g["version"]) in want]
    dups = {x for x in pairs if pairs.count(x) > 1}
    assert not dups, f"delivered twice: {sorted(dups)}"
    positions = [pos_tuple(g["position"]) for g in got]
    assert positions == sorted(positions) and len(set(positions)) == len(positions), \
        f"positions not strictly increasing: {positions}"


def test_resync_after_records_are_deleted_from_kafka(stack):
    with ws_connect(stack.pusher_ws_url, open_timeout=10) as c:
        subscribe(c)
        subscribed(c)
        a = post_word(stack, "resync-a")
        fa = next_frame(c, lambda f: f.get("type") == "change" and f.get("id") == a["id"],
                        "change of the first record")
        b = post_word(stack, "resync-b")
        fb = next_frame(c, lambda f: f.get("type") == "change" and f.get("id") == b["id"],
                        "change of the second record")
    p, ob = pos_tuple(fb["position"])
    # Delete everything of the channel's partition up to and including b: a's position is gone.
    spec = {"partitions": [{"topic": DELIVERIES, "partition": p, "offset": ob + 1}], "version": 1}
    path = stack.var_dir / f"delete-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(spec))
    kafka_tool(stack, "org.apache.kafka.tools.DeleteRecordsCommand", "--offset-json-file",
               str(path))
    with ws_connect(stack.pusher_ws_url, open_timeout=10) as c:
        subscribe(c, since=fa["position"])
        f, resync = subscribed(c)
        assert resync, f"since={fa['position']} below the low watermark: expected resync"
        assert pos_tuple(f["position"]) >= (p, ob), f"fresh position {f['position']} < {fb['position']}"
        # And the subscription is live from there.
        c_rec = post_word(stack, "resync-c")
        next_frame(c, lambda f: f.get("type") == "change" and f.get("id") == c_rec["id"],
                   "change after the resync")
    # A resume from exactly b's position (the new low watermark - 1) still works.
    with ws_connect(stack.pusher_ws_url, open_timeout=10) as c:
        subscribe(c, since=fb["position"])
        f, resync = subscribed(c)
        assert not resync, f"since={fb['position']} is the last deleted offset: no resync expected"
        next_frame(c, lambda f: f.get("type") == "change" and f.get("id") == c_rec["id"],
                   "replayed change after b")


# ------------------------------------------------- slow consumers, workers, two pushers

class RawWs:
    """A WebSocket client on a raw socket with a tiny receive buffer, to play a client that
    stops reading."""

    def __init__(self, url, rcvbuf=4096):
        host, port = url.split("//")[1].split("/")[0].split(":")
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(10)
        self.s.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(1)  # byte by byte: leave frames in the kernel buffer
            assert chunk, "connection closed during the handshake"
            self.buf += chunk
        assert self.buf.startswith(b"HTTP/1.1 101"), f"handshake: {self.buf!r}"
        self.buf = b""

    def send_text(self, text):
        data = text.encode()
        mask = os.urandom(4)
        hdr = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126
                               else bytes([0x80 | 126]) + struct.pack("!H", len(data)))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def read_until_close(self, deadline_s):
        """Reads frames until a close frame; returns its code (None: EOF without one)."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            while len(self.buf) >= 2:
                op, ln = self.buf[0] & 0x0F, self.buf[1] & 0x7F
                hl = 2
                if ln == 126:
                    if len(self.buf) < 4:
                        break
                    ln, hl = struct.unpack("!H", self.buf[2:4])[0], 4
                elif ln == 127:
                    if len(self.buf) < 10:
                        break
                    ln, hl = struct.unpack("!Q", self.buf[2:10])[0], 10
                if len(self.buf) < hl + ln:
                    break
                payload, self.buf = self.buf[hl:hl + ln], self.buf[hl + ln:]
                if op == 0x8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            try:
                chunk = self.s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            self.buf += chunk
        pytest.fail(f"no close frame within {deadline_s}s")

    def read_frames_until_close(self, deadline_s):
        """Reads (never answers) frames until the server closes; returns (pings seen, close
        code or None when the socket ended without a close frame)."""
        deadline = time.monotonic() + deadline_s
        pings = 0
        self.s.settimeout(0.5)
        while time.monotonic() < deadline:
            while len(self.buf) >= 2:
                op, ln, hl = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
                if ln == 126:
                    if len(self.buf) < 4:
                        break
                    ln, hl = struct.unpack("!H", self.buf[2:4])[0], 4
                elif ln == 127:
                    if len(self.buf) < 10:
                        break
                    ln, hl = struct.unpack("!Q", self.buf[2:10])[0], 10
                if len(self.buf) < hl + ln:
                    break
                payload, self.buf = self.buf[hl:hl + ln], self.buf[hl + ln:]
                if op == 0x9:
                    pings += 1
                elif op == 0x8:
                    return pings, (struct.unpack("!H", payload[:2])[0]
                                   if len(payload) >= 2 else None)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return pings, None
            if not chunk:
                return pings, None
            self.buf += chunk
        pytest.fail(f"the silent client was not closed within {deadline_s}s ({pings} pings)")

    def read_messages_until_close(self, deadline_s):
        """Reads frames until the server closes; returns (text messages, close code or None
        when the socket ended without a close frame, bytes read after the handshake)."""
        deadline = time.monotonic() + deadline_s
        texts, nbytes = [], len(self.buf)
        self.s.settimeout(0.5)
        while time.monotonic() < deadline:
            while len(self.buf) >= 2:
                op, ln, hl = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
                if ln == 126:
                    if len(self.buf) < 4:
                        break
                    ln, hl = struct.unpack("!H", self.buf[2:4])[0], 4
                elif ln == 127:
                    if len(self.buf) < 10:
                        break
                    ln, hl = struct.unpack("!Q", self.buf[2:10])[0], 10
                if len(self.buf) < hl + ln:
                    break
                payload, self.buf = self.buf[hl:hl + ln], self.buf[hl + ln:]
                if op == 0x1:
                    texts.append(payload.decode())
                elif op == 0x8:
                    return texts, (struct.unpack("!H", payload[:2])[0]
                                   if len(payload) >= 2 else None), nbytes
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return texts, None, nbytes
            if not chunk:
                return texts, None, nbytes
            nbytes += len(chunk)
            self.buf += chunk
        pytest.fail(f"no close frame within {deadline_s}s ({len(texts)} messages)")

    def close(self):
        self.s.close()


def test_slow_consumer_is_dropped_with_4008_while_others_keep_receiving(
        stack, pusher2, pusher2_log_on_failure):
    channel, token = private_channel()
    n, size = 600, 3000  # frames well under the 16 KiB queue of pusher2
    slow = RawWs(pusher2.url)
    try:
        slow.send_text(json.dumps({"type": "auth", "token": token}))
        slow.send_text(json.dumps({"type": "subscribe", "channel": channel}))
        with ws_connect(pusher2.url, open_timeout=10, max_queue=None, max_size=None) as fast:
            fast.send(json.dumps({"type": "auth", "token": token}))
            subscribe(fast, channel)
            subscribed(fast, channel)
            drops0 = pusher2.metric("modelcast_pusher_drops_total")
            # The slow client's subscription is answered off-loop: wait until the pusher
            # counts both before writing (bounded).
            deadline = time.monotonic() + DEADLINE_S
            while pusher2.metric("modelcast_pusher_subscriptions") < 2:
                assert time.monotonic() < deadline, "slow client's subscription not seen"
                time.sleep(0.05)
            received = []

            def reader():
                while len(received) < n:
                    try:
                        f = json.loads(fast.recv(timeout=DEADLINE_S))
                    except (TimeoutError, ConnectionClosed):
                        return
                    if f.get("type") == "change":
                        received.append(f["id"])

            t = threading.Thread(target=reader)
            t.start()
            # In rounds of 4 (12 KB): the reading client keeps up with its 16 KiB bound,
            # whatever the speed of this test's reading thread; the other does not read.
            producer = Producer({"bootstrap.servers": stack.kafka_bootstrap,
                                 "partitioner": "murmur2_random", "linger.ms": 0})
            for first in range(1, n + 1, 4):
                produce_deliveries(stack, channel, 4, size, first_id=first, producer=producer)
                deadline = time.monotonic() + DEADLINE_S
                while len(received) < first + 3 and t.is_alive():
                    assert time.monotonic() < deadline, f"round {first}: {len(received)} ids"
                    time.sleep(0.002)
            t.join(DEADLINE_S + 5)
            check_eq(sorted(received), list(range(1, n + 1)), "ids the reading client got")
            deadline = time.monotonic() + DEADLINE_S
            while pusher2.metric("modelcast_pusher_drops_total") <= drops0:
                assert time.monotonic() < deadline, "the slow client was not dropped"
                time.sleep(0.05)
        # Now read: the pusher's close frame follows what the kernel buffers held. Those are
        # bounded too: the pusher caps its socket send buffer and counts what the kernel
        # holds against MC_SEND_QUEUE_MAX (16 KiB here), so what reaches the stalled client
        # is about its queue + the capped send buffer + its own small receive buffer.
        texts, code, nbytes = slow.read_messages_until_close(DEADLINE_S)
        print(f"slow client: {len(texts)} messages, {nbytes} bytes before close {code}")
        check_eq(code, 4008, "close code of the slow client")
        assert nbytes <= 96 * 1024, f"{nbytes} bytes reached the stalled client before its close"
    finally:
        slow.close()


def test_two_pushers_and_two_workers_all_receive_everything(stack, pusher2, pusher2_log_on_failure):
    conns = []
    with contextlib.ExitStack() as es:
        # Eight clients on the two-worker pusher (the kernel spreads them over both workers)
        # and two on the stack's pusher.
        for url in [pusher2.url] * 8 + [stack.pusher_ws_url] * 2:
            c = es.enter_context(ws_connect(url, open_timeout=10, max_queue=None))
            conns.append(c)
            subscribe(c)
        for c in conns:
            subscribed(c)
        recs = [post_word(stack, f"two-{i}-{uuid.uuid4().hex[:6]}") for i in range(5)]
        want = [r["id"] for r in recs]
        positions = []
        for c in conns:
            got = {}
            while set(got) != set(want):
                f = next_frame(c, lambda f: f.get("type") == "change" and f.get("id") in want,
                               f"changes of records {want}")
                assert f["id"] not in got, f"record {f['id']} delivered twice"
                got[f["id"]] = f["position"]
            positions.append(got)
        for p in positions[1:]:
            check_eq(p, positions[0], "positions seen by different clients and pushers")


# ------------------------------------------------------------------- server pings, dead peers

def test_server_pings_and_closes_a_peer_that_never_answers(stack, tmp_path):
    """MC_PING_INTERVAL_S=1, MC_PING_TIMEOUT_S=3: a raw client that never answers pings is
    closed within a bounded time; a normal client (its stack answers pong) stays connected
    well past the timeout and still gets deliveries."""
    p = Pusher(stack, tmp_path, MC_PING_INTERVAL_S=1, MC_PING_TIMEOUT_S=3, MC_WORKERS=1)
    try:
        dead = RawWs(p.url)
        try:
            with ws_connect(p.url, open_timeout=10, max_queue=None, ping_interval=None) as alive:
                subscribe(alive)
                subscribed(alive)
                dead.send_text(json.dumps({"type": "subscribe", "channel": CHANNEL}))
                t0 = time.monotonic()
                # The raw client reads (and ignores) everything, pings included, until the
                # pusher hangs up: expect that after ~3 s, well within the deadline.
                pings, code = dead.read_frames_until_close(DEADLINE_S)
                waited = time.monotonic() - t0
                print(f"silent client: {pings} pings, close {code}, after {waited:.2f}s")
                assert pings >= 1, f"no ping reached the silent client (close code {code})"
                assert waited <= 3 + 2 + 2, f"silent client closed only after {waited:.1f}s"
                # The pinged client answered: after more than the timeout it is still open.
                time.sleep(max(0.0, 4.5 - waited))
                rec = post_word(stack, f"ping-{uuid.uuid4().hex[:6]}")
                next_frame(alive, lambda f: f.get("type") == "change" and f.get("id") == rec["id"],
                           "the change on the client that answers pings")
                check_eq(p.metric("modelcast_pusher_connections"), 1.0, "connections left open")
        finally:
            dead.close()
        assert p.metric("modelcast_pusher_delivery_lag_seconds_count") >= 1, "no delivery lag observed"
    except BaseException:
        print(f"----- ping pusher log -----\n{p.log()}")
        raise
    finally:
        p.stop()


# ------------------------------------------------------------------- settings and metrics

def run_pusher(*args, **env):
    """Runs the pusher to completion (--help, a refused setting) with only env as MC_*."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    e.update({k: str(v) for k, v in env.items()})
    return subprocess.run([pusher_binary(), *args], env=e, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_docs_settings_table_is_the_help():
    """docs/protocol.md lists exactly the settings of --help, in its order, with its defaults
    (none: an empty cell)."""
    proc = run_pusher("--help")
    check_eq(proc.returncode, 0, f"--help exit status (stderr {proc.stderr!r})")
    helped, name = [], None
    for line in proc.stdout.splitlines():
        words = line.split()
        if line.startswith("  MC_"):
            if name:  # the one before has no default
                helped.append((name, ""))
            name = words[0]
        elif name and words[:1] == ["(default:"]:
            helped.append((name, line.split("(default: ", 1)[1].rstrip(")")))
            name = None
    text = (REPO / "docs" / "protocol.md").read_text()
    section = text.split("## Settings of the pusher", 1)[1].split("\n## ", 1)[0]
    documented = [tuple(c.strip().strip("`") for c in row.split("|")[1:3])
                  for row in section.splitlines() if row.startswith("| `MC_")]
    if name:
        helped.append((name, ""))
    assert len(helped) == 25, f"--help lists {len(helped)} settings:\n{proc.stdout}"
    check_eq(documented, helped, "docs/protocol.md settings (name, default) vs --help")


def test_a_refused_setting_names_itself_and_exits_2():
    cases = [({"MC_PING_INTERVAL_S": 30, "MC_PING_TIMEOUT_S": 30},
              "MC_PING_TIMEOUT_S: 30 must be greater than MC_PING_INTERVAL_S (30)"),
             ({"MC_DELIVERIES_TOPIC": ""}, "MC_DELIVERIES_TOPIC: must not be empty"),
             ({"MC_HTTP_PORT": 0}, "MC_HTTP_PORT: 0 (from the environment) is out of range"),
             ({"MC_LOG_LEVEL": "loud"}, "MC_LOG_LEVEL: 'loud' is not debug, info, warn or error")]
    for env, message in cases:
        proc = run_pusher(**env)
        check_eq(proc.returncode, 2, f"exit status with {env} (stderr {proc.stderr!r})")
        assert f"modelcast-pusher: {message}" in proc.stderr, \
            f"with {env}: stderr {proc.stderr!r} lacks {message!r}"


def test_every_metric_is_modelcast_pusher(stack):
    port = stack.ports["pusher"]
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=HTTP_TIMEOUT).text
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    expected = {"modelcast_pusher_" + n for n in (
        "connections", "connections_rejected_total", "subscriptions",
        "subscriptions_refused_total", "authorizations_total", "replays_total", "resyncs_total",
        "deliveries_in_total", "deliveries_malformed_total", "frames_out_total", "drops_total",
        "queue_bytes", "delivery_lag_seconds", "replay_passes_total", "replays_unread_total",
        "origins_refused_total")}
    check_eq(names, expected, "metric families of the pusher")
