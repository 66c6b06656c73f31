"""Test tokens: HS256 JWTs signed with the local stack's development secret, and the broken
kinds the services must refuse (forged, expired, alg none, another algorithm)."""

import base64
import hashlib
import hmac
import json
import time

DEV_SECRET = "modelcast-local-dev-secret"  # deploy/local/lib.sh: MC_JWT_KEY default


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make(claims=None, secret=DEV_SECRET, alg="HS256", header=None, ttl=300):
    """A signed token. claims default to none besides exp; alg picks the HMAC digest."""
    payload = {"exp": int(time.time()) + ttl}
    payload.update(claims or {})
    head = header or {"alg": alg, "typ": "JWT"}
    signing = f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(payload).encode())}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(
        head.get("alg"), hashlib.sha256)
    sig = hmac.new(secret.encode(), signing.encode(), digest).digest()
    return f"{signing}.{_b64(sig)}"


def user(sub, teams=(), **extra):
    return make({"sub": str(sub), "teams": list(teams), **extra})


def forged(sub="7"):
    return make({"sub": sub}, secret="not-the-secret")


def expired(sub="7"):
    return make({"sub": sub}, ttl=-3600)


def alg_none(sub="7"):
    head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"sub": sub, "exp": int(time.time()) + 300}).encode())
    return f"{head}.{body}."


def wrong_alg(sub="7"):
    return make({"sub": sub}, alg="HS512")


def no_exp(sub="7"):
    """Correctly signed, but it would never expire (MC_JWT_REQUIRE_EXP refuses it)."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"sub": sub}).encode())
    sig = hmac.new(DEV_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


BAD_TOKENS = {
    "no_exp": no_exp,
    "bad_signature": forged,
    "expired": expired,
    "alg_none": alg_none,
    "wrong_alg": wrong_alg,
}
