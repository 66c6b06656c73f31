"""Helpers of the deployment tests (tests/deploy): HTTP and WebSocket clients that talk to a
deployment from outside (through its edge or a Service), tokens, and polling with deadlines.

Every wait polls with a deadline; nothing sleeps a fixed time to wait for readiness; no
assertion is about time.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "tests" / "deploy" / "harness"
HTTP_TIMEOUT = 10
DEADLINE_S = 120
MODEL = "Dictionary"        # config/models.json: anyone may create one
CHANNEL = "Application"     # config/policies.json: anyone may connect; gets every Dictionary


def log(msg):
    print(f"[deploy-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_until(predicate, what, deadline_s=DEADLINE_S, interval=0.5):
    """Polls predicate() until it returns a truthy value (returned); fails after deadline_s."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        try:
            last = predicate()
        except Exception as e:  # a refused connection while something restarts
            last = f"{type(e).__name__}: {e}"[:300]
            if last is True:
                last = None
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not true within {deadline_s}s (last: {last!r})")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, check=True, timeout=600, **kw):
    """Runs cmd (a list), returns CompletedProcess with text output; fails the test on error."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {r.returncode}\n"
                    f"stdout: {r.stdout[-3000:]}\nstderr: {r.stderr[-3000:]}")
    return r


def harness_env():
    """The environment the harness's docker/kubectl/helm calls need (DOCKER_HOST, PATH...)."""
    env = dict(os.environ)
    out = run(["bash", str(HARNESS / "docker.sh"), "env"]).stdout
    for line in out.splitlines():
        for part in line.replace("export ", "").split():
            k, _, v = part.partition("=")
            env[k] = v.strip("'\"")
    return env


def hs256_token(secret, claims, ttl=3600):
    """A signed HS256 JWT with exp, as the services verify (MC_JWT_KEY, MC_JWT_ALG=HS256)."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    now = int(time.time())
    body = dict({"iat": now, "exp": now + ttl}, **claims)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    pay = b64(json.dumps(body).encode())
    sig = hmac.new(secret.encode(), f"{head}.{pay}".encode(), hashlib.sha256).digest()
    return f"{head}.{pay}.{b64(sig)}"


class Rest:
    """REST calls to one base URL (an edge, or a Service reached through port-forward)."""

    def __init__(self, base):
        self.base = base
        self.s = requests.Session()

    def create_word(self, word, status=201):
        r = self.s.post(f"{self.base}/v1/{MODEL}", json={"word": word, "definition": "deploy test"},
                        timeout=HTTP_TIMEOUT)
        assert r.status_code == status, f"POST /v1/{MODEL}: {r.status_code} {r.text[:300]}"
        return r.json()

    def get_word(self, rec_id):
        return self.s.get(f"{self.base}/v1/{MODEL}/{rec_id}", timeout=HTTP_TIMEOUT)

    def get(self, path):
        return self.s.get(f"{self.base}{path}", timeout=HTTP_TIMEOUT)


def position_key(pos):
    p, o = pos.split(":")
    return int(p), int(o)


class Subscriber:
    """One WebSocket client on CHANNEL that remembers the last position it saw, and can resume
    from it (subscribe with `since`) after its connection is lost."""

    def __init__(self, url, name="client", origin=None):
        self.url = url
        self.name = name
        self.origin = origin      # the Origin header a browser page would send, or None
        self.conn = None
        self.last = None          # position of the last frame seen: subscribed or change
        self.changes = []         # every change frame, in arrival order
        self.reconnects = 0
        self.resyncs = 0

    def connect_once(self):
        """One attempt: connect and subscribe (with `since` after a first subscription)."""
        # Entered by hand: the connection outlives this call (closed in close()).
        self.conn = ws_connect(self.url, open_timeout=HTTP_TIMEOUT, close_timeout=2,
                               origin=self.origin).__enter__()
        msg = {"type": "subscribe", "channel": CHANNEL}
        if self.last is not None:
            msg["since"] = self.last
        self.conn.send(json.dumps(msg))
        while True:
            f = json.loads(self.conn.recv(timeout=HTTP_TIMEOUT))
            if f.get("type") == "resync":
                self.resyncs += 1
                continue
            if f.get("type") == "change":   # a replay may not come first; keep it
                self._take(f)
                continue
            assert f.get("type") == "subscribed", f"{self.name}: answer to subscribe: {f!r}"
            if self.last is None:
                self.last = f["position"]
            return True

    def connect(self, deadline_s=DEADLINE_S):
        wait_until(self.connect_once, f"{self.name}: subscribe {CHANNEL} at {self.url}",
                   deadline_s)

    def _take(self, f):
        # One channel is one partition: its positions grow strictly, across reconnects too.
        if self.last is not None:
            assert position_key(f["position"]) > position_key(self.last), \
                f"{self.name}: position went back: {self.last} then {f['position']}"
        self.last = f["position"]
        self.changes.append(f)

    def ids(self):
        return [f["id"] for f in self.changes if f.get("model") == MODEL]

    def read_until(self, ids, deadline_s=DEADLINE_S, resume=True):
        """Reads changes until every id in ids has arrived; reconnects with `since` when the
        connection drops (resume=True) and fails on a drop otherwise."""
        want = set(ids)
        deadline = time.monotonic() + deadline_s
        while not want <= set(self.ids()):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{self.name}: missing {sorted(want - set(self.ids()))} "
                            f"after {deadline_s}s (got {len(self.changes)} changes)")
            try:
                f = json.loads(self.conn.recv(timeout=min(left, 5)))
            except TimeoutError:
                continue
            except (ConnectionClosed, OSError) as e:
                if not resume:
                    pytest.fail(f"{self.name}: connection lost: {e}")
                log(f"{self.name}: connection lost ({e}); resuming from {self.last}")
                self.reconnects += 1
                self.connect(deadline_s=max(left, 1))
                continue
            if f.get("type") == "change":
                self._take(f)

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


def origin_refused_code(url, origin):
    """Opens a WebSocket to url with Origin: origin, as a page of that origin would, and
    subscribes; returns the close code when the server closes it (the pusher's Origin check
    closes with 4003), or None when the subscription is answered."""
    with ws_connect(url, open_timeout=HTTP_TIMEOUT, close_timeout=2, origin=origin) as c:
        try:
            c.send(json.dumps({"type": "subscribe", "channel": CHANNEL}))
            while True:
                f = json.loads(c.recv(timeout=HTTP_TIMEOUT))
                if f.get("type") == "subscribed":
                    return None
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None
