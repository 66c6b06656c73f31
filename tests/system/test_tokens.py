"""Tokens from an identity provider (JWKS) and the bound on claim lists, on the real stack.

A local HTTP server (in this test) plays the identity provider: it serves a JWKS whose keys
rotate during the test and counts every fetch. A model-api and an authz started here verify
tokens with MC_JWT_JWKS_URL (the stack's own services keep the HS256 development key):
- a token signed by a new key is accepted without a restart, after the one refetch its
  unknown kid causes; tokens of the old key keep working until the key leaves the document;
- a removal takes effect at the next refresh, and refreshes follow the cache headers;
- a flood of random kids fetches at most once per MC_JWT_JWKS_REFRESH_MIN per service;
- with the server down, the last good set is kept and /readyz + /metrics say so;
- with no set at all, every token is refused (fail closed) and /readyz is 503;
- the attacks (algorithm confusion, none, expired, wrong key, issuer, audience) through JWKS.
"""

import base64
import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from confluent_kafka.admin import AdminClient, NewTopic
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import tokens
from conftest import free_ports
from mc_testlib import metric_value, wait_ready, wait_until

ISSUER = "https://idp.modelcast.test/realms/demo"
AUDIENCE = "modelcast"
REFRESH_MIN_S = 1  # MC_JWT_JWKS_REFRESH_MIN of the services started here


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64(n, length=None):
    return b64(n.to_bytes(length or (n.bit_length() + 7) // 8, "big"))


class Key:
    """A signing key pair of the identity provider, published under kid."""

    def __init__(self, kid, kind="RS256"):
        self.kid, self.alg = kid, kind
        if kind == "RS256":
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pub = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                        "n": int_b64(pub.n), "e": int_b64(pub.e)}
        else:
            self.priv = ec.generate_private_key(ec.SECP256R1())
            pub = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
                        "x": int_b64(pub.x, 32), "y": int_b64(pub.y, 32)}  # no alg: pinned by type
        self.public_pem = self.priv.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def token(self, claims=None, kid=None, ttl=300, alg=None):
        head = {"alg": alg or self.alg, "typ": "JWT", "kid": kid or self.kid}
        body = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + ttl, "sub": "42"}
        body.update(claims or {})
        signing = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}".encode()
        if self.alg == "RS256":
            sig = self.priv.sign(signing, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.priv.sign(signing, ec.ECDSA(hashes.SHA256())))
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing.decode()}.{b64(sig)}"


class JwksServer:
    """The identity provider's JWKS endpoint: serves keys with a Cache-Control header, counts
    fetches; stop() takes it down."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys, self.max_age, self.fetches = [], 3600, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                with outer.lock:
                    outer.fetches += 1
                    body = json.dumps({"keys": [k.jwk for k in outer.keys]}).encode()
                    max_age = outer.max_age
                self.send_response(200)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Cache-Control", f"public, max-age={max_age}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/realms/demo/certs"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, *keys, max_age=None):
        with self.lock:
            self.keys = list(keys)
            if max_age is not None:
                self.max_age = max_age

    def count(self):
        with self.lock:
            return self.fetches

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def jwks_env(stack, service, url, port):
    """The environment of the stack's running service, with a JWKS instead of its key."""
    pid = stack.pid(service)
    assert pid, f"the stack's {service} is not running"
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(item.decode().split("=", 1) for item in f.read().split(b"\0") if b"=" in item)
    for name in ("MC_JWT_KEY", "MC_JWT_KEY_FILE", "MC_JWT_ALG"):
        env.pop(name, None)
    env.update({"MC_HTTP_PORT": str(port), "MC_JWT_JWKS_URL": url,
                "MC_JWT_JWKS_ALGS": "RS256,ES256",
                "MC_JWT_JWKS_REFRESH_MIN": str(REFRESH_MIN_S),
                "MC_JWT_JWKS_TIMEOUT_MS": "2000",
                "MC_JWT_ISSUER": ISSUER, "MC_JWT_AUDIENCE": AUDIENCE})
    return env, os.readlink(f"/proc/{pid}/exe")


@contextlib.contextmanager
def service(stack, name, env, exe):
    stack.extra_logs.append(name)
    with open(stack.log_path(name), "ab") as log:
        proc = subprocess.Popen([exe], env=env, cwd=str(stack.var_dir), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)


def wait_healthy(url):
    def up():
        try:
            return requests.get(url + "/healthz", timeout=3).status_code == 200
        except requests.RequestException:
            return False
    wait_until(up, f"{url}/healthz answers 200", 60)


class Verifiers:
    """The model-api and authz started with MC_JWT_JWKS_URL; counts every call made with a
    token that should pass, and every refusal of one."""

    def __init__(self, api_url, authz_url):
        self.api_url, self.authz_url = api_url, authz_url
        self.valid_sent = self.valid_refused = 0

    def rest(self, token):
        r = requests.get(f"{self.api_url}/v1/Dictionary?limit=1", timeout=15,
                         headers={"Authorization": f"Bearer {token}"})
        return r.status_code, (r.json().get("error", {}).get("details") or {}).get("reason")

    def authorize(self, token):
        r = requests.post(f"{self.authz_url}/v1/authorize", timeout=15,
                          json={"token": token, "channels": ["User-42"]})
        if r.status_code == 200:
            return 200, None if r.json()["channels"][0]["allow"] else "denied"
        return r.status_code, r.json()["error"]["details"]["reason"]

    def accepted(self, token):
        """Both services accept token (and its sub may connect to User-42)."""
        got = (self.rest(token), self.authorize(token))
        self.valid_sent += 2
        self.valid_refused += sum(1 for status, _ in got if status != 200)
        assert got == ((200, None), (200, None)), got

    def refused(self, token, reason):
        got = (self.rest(token), self.authorize(token))
        assert got == ((401, reason), (401, reason)), got


@pytest.fixture(scope="module")
def idp():
    server = JwksServer()
    yield server
    with contextlib.suppress(Exception):
        server.stop()


@pytest.fixture(scope="module")
def keys():
    return {"A": Key("key-a", "RS256"), "B": Key("key-b", "ES256"), "C": Key("key-c", "RS256")}


@pytest.fixture(scope="module")
def verifiers(stack, idp, keys):
    """model-api and authz verifying with the JWKS of idp, which publishes key A."""
    idp.publish(keys["A"], max_age=3600)
    api_port, authz_port = free_ports(2)
    tag = uuid.uuid4().hex[:8]
    # authz reads its own (empty) topics: the stack's deliveries must not get a second copy.
    topics = {"MC_CHANGES_TOPIC": f"jwks-changes-{tag}", "MC_DELIVERIES_TOPIC": f"jwks-del-{tag}",
              "MC_DLQ_TOPIC": f"jwks-dlq-{tag}"}
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in topics.values()]).values():
        f.result(30)
    api_env, api_exe = jwks_env(stack, "model-api", idp.url, api_port)
    authz_env, authz_exe = jwks_env(stack, "authz", idp.url, authz_port)
    authz_env.update(topics)
    authz_env.update({"MC_GROUP_ID": f"jwks-{tag}", "MC_TRANSACTIONAL_ID": f"jwks-{tag}"})
    with service(stack, "model-api-jwks", api_env, api_exe), \
            service(stack, "authz-jwks", authz_env, authz_exe):
        v = Verifiers(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{authz_port}")
        wait_ready(v.api_url)
        wait_healthy(v.authz_url)
        yield v
    admin.delete_topics(list(topics.values()))


def test_key_rotation_without_restart(idp, keys, verifiers):
    v, a, b = verifiers, keys["A"], keys["B"]
    assert idp.count() == 2, "one fetch per service at start"
    v.accepted(a.token())

    # The provider adds key B; a token of B has an unknown kid: one refetch per service.
    idp.publish(a, b)
    v.accepted(b.token())
    assert idp.count() == 4, idp.count()
    v.accepted(a.token())  # the old key keeps working while it is published
    v.accepted(b.token({"sub": "42", "teams": [1, 2]}))
    assert idp.count() == 4, "known kids fetch nothing"

    # Key A leaves the document (and the cache headers ask for 1 s): after the next fetch,
    # its tokens are refused. An unknown kid asks for that fetch, once per second at most.
    idp.publish(b, max_age=1)
    before = idp.count()
    probe = keys["C"].token(kid="not-published")
    wait_until(lambda: v.rest(probe) == (401, "unknown_kid") and v.authorize(probe)
               and idp.count() >= before + 2, "a refetch by each service", 30)
    v.refused(a.token(), "unknown_kid")
    v.accepted(b.token())
    # From now on the cache headers (max-age=1) drive the refreshes, without any token.
    settled = idp.count()
    wait_until(lambda: idp.count() >= settled + 2, "refreshes driven by max-age=1", 30)
    print(f"rotation: {v.valid_sent} calls with valid tokens, {v.valid_refused} refused; "
          f"{idp.count()} JWKS fetches in all")
    assert v.valid_refused == 0


def test_kid_flood_fetches_once_per_interval(idp, keys, verifiers):
    v, c = verifiers, keys["C"]
    idp.publish(keys["B"], max_age=3600)
    # Let each service refresh with max-age=3600, so that only unknown kids cause fetches.
    def next_refresh(url):
        return requests.get(f"{url}/readyz", timeout=5).json()["jwks"]["next_refresh_s"]
    wait_until(lambda: min(next_refresh(v.api_url), next_refresh(v.authz_url)) > 600,
               "both services refreshed with max-age=3600", 30)
    before, t0 = idp.count(), time.monotonic()
    sent = 0
    for i in range(150):
        token = c.token(kid=f"random-{uuid.uuid4().hex}")
        v.refused(token, "unknown_kid")
        sent += 2
    elapsed = time.monotonic() - t0
    fetched = idp.count() - before
    bound = 2 * (int(elapsed / REFRESH_MIN_S) + 1)
    print(f"kid flood: {sent} tokens with random kids in {elapsed:.1f}s -> {fetched} JWKS "
          f"fetches (bound {bound}: one per {REFRESH_MIN_S}s per service)")
    assert fetched <= bound, (fetched, bound)
    m = metric_value(v.api_url, "modelcast_jwks_unknown_kid_fetches_total")
    assert m is not None and m >= 1, m
    v.accepted(keys["B"].token())


def test_attacks_through_the_jwks(keys, verifiers):
    v, b = verifiers, keys["B"]
    rsa_key = keys["C"]
    # Algorithm confusion: HS256 with the published key's PEM as the HMAC secret.
    forged = tokens.make({"iss": ISSUER, "aud": AUDIENCE, "sub": "42"},
                         secret=b.public_pem.decode(),
                         header={"alg": "HS256", "typ": "JWT", "kid": b.kid})
    v.refused(forged, "wrong_alg")
    v.refused(b.token(alg="RS256"), "wrong_alg")  # an RS256 header naming the EC key
    head = b64(json.dumps({"alg": "none", "kid": b.kid}).encode())
    body = b64(json.dumps({"sub": "42", "iss": ISSUER, "aud": AUDIENCE,
                           "exp": int(time.time()) + 60}).encode())
    v.refused(f"{head}.{body}.", "alg_none")
    v.refused(b.token(ttl=-3600), "expired")
    v.refused(b.token({"nbf": int(time.time()) + 3600}), "not_yet_valid")
    v.refused(rsa_key.token(kid=b.kid), "wrong_alg")  # another key's signature, B's kid
    impostor = Key(b.kid, "ES256")  # the same kid, another EC key
    v.refused(impostor.token(), "bad_signature")
    v.refused(b.token({"iss": "https://evil.test"}), "bad_issuer")
    v.refused(b.token({"aud": "another-app"}), "bad_audience")


def test_provider_down_keeps_the_last_good_set(stack, idp, keys, verifiers):
    v = verifiers
    idp.stop()
    # An unknown kid asks for a fetch, which fails: the set of key B is kept.
    probe = keys["C"].token(kid="after-the-outage")

    def failed():
        v.rest(probe)
        v.authorize(probe)
        r = requests.get(f"{v.api_url}/readyz", timeout=5)
        jwks = r.json().get("jwks", {})
        return (r.status_code == 200 and jwks.get("status") == "stale"
                and (metric_value(v.authz_url, "modelcast_jwks_refresh_failures_total") or 0) >= 1
                and (r.status_code, jwks))
    status, jwks = wait_until(failed, "a failed refresh in /readyz and /metrics", 30)
    assert jwks["keys"] == 1 and jwks["failures"] >= 1, jwks
    assert "Failed to connect" in jwks["last_error"] or "Couldn't connect" in jwks["last_error"], jwks
    assert jwks["last_success"] <= time.time(), jwks
    assert metric_value(v.api_url, "modelcast_jwks_refresh_failures_total") >= 1
    assert metric_value(v.api_url, "modelcast_jwks_keys") == 1
    assert metric_value(v.api_url, "modelcast_jwks_last_success_timestamp_seconds") > 0
    v.accepted(keys["B"].token())
    assert v.valid_refused == 0


def test_no_key_set_refuses_every_token(stack, keys):
    """Fail closed: a model-api whose JWKS cannot be fetched serves no token and is not ready."""
    port, dead = free_ports(2)
    env, exe = jwks_env(stack, "model-api", f"http://127.0.0.1:{dead}/certs", port)
    url = f"http://127.0.0.1:{port}"
    with service(stack, "model-api-nokeys", env, exe):
        def answered():
            try:
                return [requests.get(url + "/readyz", timeout=3)]
            except requests.RequestException:
                return None
        [r] = wait_until(answered, "the model-api without keys answers /readyz", 60)
        assert r.status_code == 503, r.text
        assert r.json()["jwks"]["status"] == "no_keys", r.text
        got = requests.get(f"{url}/v1/Dictionary", timeout=15,
                           headers={"Authorization": f"Bearer {keys['A'].token()}"})
        assert got.status_code == 401, got.text
        assert got.json()["error"]["details"]["reason"] == "no_keys", got.text
        assert requests.get(f"{url}/v1/Dictionary", timeout=15).status_code == 200  # anonymous


# ------------------------------------------------------------------ claim lists (issue 12)

def test_team_lists_are_read_whole_or_refused_on_every_path(stack):
    """REST filters and the WebSocket channel check (authz /v1/authorize) read the same
    teams: a token naming up to MC_JWT_MAX_CLAIM_ITEMS (1,000) list items is read whole by
    both, a larger one is refused by both."""
    team = random.randint(100000, 999999)
    title = f"team list {uuid.uuid4().hex[:8]}"
    owner = tokens.user(7, teams=[team])
    created = requests.post(f"{stack.api_url}/v1/Todo", timeout=15,
                            headers={"Authorization": f"Bearer {owner}"},
                            json={"title": title, "owner_id": 7, "team_id": team,
                                  "private": False})
    assert created.status_code == 201, created.text

    def both(token):
        listed = requests.get(f"{stack.api_url}/v1/Todo", params={"title": title}, timeout=15,
                              headers={"Authorization": f"Bearer {token}"})
        auth = requests.post(f"{stack.authz_url}/v1/authorize", timeout=15,
                             json={"token": token, "channels": [f"Team-{team}"]})
        return listed, auth

    # The team is the 1,000th item: both paths see it.
    listed, auth = both(tokens.user(50, teams=list(range(999)) + [team]))
    assert listed.status_code == 200, listed.text
    assert [t["title"] for t in listed.json()["data"]] == [title], listed.text
    assert auth.status_code == 200 and auth.json()["channels"][0]["allow"] is True, auth.text

    # The 1,001st: before, REST listed nothing while authorize allowed the channel; now both
    # refuse the token, with the same reason.
    listed, auth = both(tokens.user(50, teams=list(range(1000)) + [team]))
    assert listed.status_code == 401, listed.text
    assert listed.json()["error"]["details"]["reason"] == "too_many_items", listed.text
    assert auth.status_code == 401, auth.text
    assert auth.json()["error"]["details"]["reason"] == "too_many_items", auth.text
