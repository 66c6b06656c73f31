#!/usr/bin/env python3
"""Writes the kept seed corpus of the fuzz harnesses: tests/fuzz/corpus/<target>/<name>.

Usage: python3 tests/fuzz/make_seeds.py [--new-rsa-key]

Seeds are small, meaningful inputs taken from config/, tests/system/ and the unit tests:
each one reaches a different part of its parser, and the fuzzer mutates from there.
Structured inputs join their parts with a NUL byte (FUZZ_SEP in fuzz_common.h).
The JWT seeds are signed with the harness's HS256 key and, with --new-rsa-key, with a
fresh RSA key whose public half replaces tests/fuzz/data/jwt_rs256.pub (openssl CLI; the
private key is thrown away). Without it the RS256 seed keeps its current file.
Rewrites the seed folders (regressions/ is never touched). Standard library only.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
SEP = b"\0"

HS_KEY = b"modelcast-fuzz-hs256-key-0123456789"  # FUZZ_HS_KEY in fuzz_jwt.c
NOW = 1700000000                                 # FUZZ_NOW in fuzz_jwt.c


def read(rel):
    with open(os.path.join(REPO, rel), "rb") as f:
        return f.read()


def j(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def write(target, seeds, keep=()):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name not in keep:
            os.remove(os.path.join(d, name))
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def proto_frame():
    delivery = {"channel": "User-7", "model": "Todo", "id": 1, "op": "update", "version": 2,
                "attributes": {"id": 1, "title": "buy milk", "done": False},
                "changed": ["done"], "event_id": "6c1f0e3a-1"}
    return {
        "ping": b'{"type":"ping"}',
        "auth": b'{"type":"auth","token":"eyJhbGciOiJIUzI1NiJ9.e30.c2ln"}',
        "auth_null": b'{"type":"auth","token":null}',
        "subscribe": b'{"type":"subscribe","channel":"Application"}',
        "subscribe_since": b'{"type":"subscribe","channel":"User-7","since":"0:42"}',
        "subscribe_empty": b'{"type":"subscribe","channel":"Team-3","since":"1:-1"}',
        "unsubscribe": b'{"type":"unsubscribe","channel":"Todo.x:y_z-1"}',
        "unknown_type": b'{"type":"publish","channel":"Application"}',
        "escaped": b'{"type":"subscribe","channel":"A\\u0000B","since":null}',
        "delivery": j(delivery),
        "delivery_remove": j({"channel": "Team-3", "model": "Todo", "id": 1, "op": "remove",
                              "attributes": {"id": 1}, "position": "x", "type": "y"}),
        "position": b"3:12345",
    }


def jwt_token(header, claims, key=HS_KEY, sign=None):
    head = b64url(j(header)) + b"." + b64url(j(claims))
    if sign is None:
        sig = hmac.new(key, head, hashlib.sha256).digest()
    else:
        sig = sign(head)
    return head + b"." + b64url(sig)


def rs256_signer(new_key):
    """A signer with a fresh key (public half written for the harness), or None."""
    if not new_key:
        return None
    tmp = tempfile.mkdtemp()
    pem = os.path.join(tmp, "k.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", pem], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", pem, "-pubout", "-out",
                    os.path.join(HERE, "data", "jwt_rs256.pub")], check=True)

    def sign(data):
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", pem], input=data,
                              check=True, capture_output=True).stdout
    return sign


def jwt(new_key):
    hs = {"alg": "HS256", "typ": "JWT"}
    full = {"sub": "7", "iss": "modelcast-fuzz", "aud": "modelcast", "exp": NOW + 3600,
            "nbf": NOW - 10, "iat": NOW - 10, "teams": [3], "role": "admin"}
    seeds = {
        "hs256_full": jwt_token(hs, full),
        "hs256_aud_array": jwt_token(hs, dict(full, aud=["other", "modelcast"])),
        "hs256_expired": jwt_token(hs, dict(full, exp=NOW - 60)),
        "hs256_not_yet": jwt_token(hs, dict(full, nbf=NOW + 600)),
        "hs256_no_exp": jwt_token(hs, {"sub": "7", "iss": "modelcast-fuzz", "aud": "modelcast"}),
        "hs256_bad_types": jwt_token(hs, {"sub": 7, "exp": "soon", "aud": 3}),
        "hs256_wrong_key": jwt_token(hs, full, key=b"another key"),
        "alg_none": b64url(j({"alg": "none"})) + b"." + b64url(j(full)) + b".",
        "hs512_header": jwt_token({"alg": "HS512"}, full),
        "not_a_token": b"Bearer abc",
    }
    sign = rs256_signer(new_key)
    keep = ()
    if sign:
        seeds["rs256_full"] = jwt_token({"alg": "RS256", "kid": "k1"},
                                        dict(full, aud="modelcast"), sign=sign)
    else:
        keep = ("rs256_full",)
    return seeds, keep


def condition():
    models = json.loads(read("tests/system/models_rest.json"))
    widget = {"id": 7, "version": 2, "created_at": "2026-01-01T00:00:00Z",
              "updated_at": "2026-01-02 10:00:00.5+02:00", "name": "bolt", "notes": None,
              "qty": 20, "big": 9007199254740993, "price": 9.5, "active": True,
              "due_at": "2026-03-01T00:00:00Z", "meta": {"k": [1]}, "author_id": 3,
              "color": "red", "level": 2, "sku": "B-1", "tag": "x"}
    seeds = {}
    for name, cond in models["models"]["Widget"]["scopes"].items():
        seeds["scope_" + name] = j(cond) + SEP + j(widget)
    seeds["every_op"] = j({"qty": {"eq": 1, "ne": 2, "gt": 0, "gte": 1, "lt": 5, "lte": 4},
                           "name": {"in": ["a", "b"]}, "meta": {"null": True}}) + SEP + b"{}"
    seeds["nested"] = j({"and": [{"or": [{"not": {"big": {"gt": -1}}}, {"id": {"lte": 9}}]},
                                 {"updated_at": {"gt": "2026-01-01"}}]}) + SEP + j(widget)
    seeds["null_record"] = j({"active": {"ne": True}, "price": {"null": False}}) + SEP + \
        j({"active": None, "price": 1e300})
    return seeds


def list_query():
    def cursor(order, values):
        return b64url(j({"o": order, "v": values})).decode()
    alice = j({"sub": "7", "teams": [3]})
    admin = j({"sub": 1, "role": "admin", "org": {"id": 1}, "scope": "read widgets",
               "tags": ["x"]})
    row = j({"id": 9, "qty": 5, "name": "nut", "title": "t", "created_at": "2026-01-01T00:00:00Z"})
    return {
        "todo_anonymous": b"" + SEP + b"model=Todo&done=false" + SEP + row,
        "todo_alice": alice + SEP + b"model=Todo&team_id[in]=3,4&order=-created_at&limit=10" + SEP + row,
        "todo_hidden": alice + SEP + b"model=Todo&notes[null]=false&order=notes" + SEP,
        "dictionary": b"" + SEP + b"model=Dictionary&scope=defined&word[gte]=a&definition[null]=false" + SEP + row,
        "widget_scopes": admin + SEP + b"model=Widget&scope=in_stock,enabled,due_2026&price[lt]=9.5" + SEP + row,
        "widget_order": admin + SEP + b"model=Widget&order=-qty,name&due_at[gt]=2026-01-01T00%3A00%3A00Z"
                        b"&active=true&big[ne]=-1" + SEP + row,
        "widget_cursor": admin + SEP + ("model=Widget&cursor=" + cursor("-qty,name,id", [5, "nut", 9])).encode() + SEP + row,
        "widget_cursor_null": b"" + SEP + ("model=Widget&order=qty&cursor=" + cursor("qty,id", [None, 9])).encode() + SEP,
        "widget_tag": j({"sub": "x", "tags": ["x", "y"]}) + SEP + b"model=Widget&tag=x&color[in]=red,blue" + SEP + row,
        "author_count": b"" + SEP + b"model=Author&email[null]=true&limit=1000" + SEP + row,
        "secret": b"" + SEP + b"model=Secret&value=s" + SEP,
        "bad": b"" + SEP + b"model=Todo&title[like]=x&=&limit=-1&cursor=%%" + SEP,
        # names at their 63-character limit, an order text at its 255-character limit
        "limits": j({"sub": "7"}) + SEP + ("model=L" + "x" * 62 + "&order=" +
                                           ",".join("-" + c * 62 for c in "bcde") +
                                           "&" + "a" * 63 + "[gt]=x&scope=" + "s" * 63).encode()
        + SEP + j({"id": 1, "b" * 62: 2, "c" * 62: None, "d" * 62: 1.5, "e" * 62: 7}),
    }


def models_loader():
    return {
        "config": read("config/models.json"),
        "rest": read("tests/system/models_rest.json"),
        "limits": read("tests/fuzz/data/models_limits.json"),
        "minimal": j({"models": {"A": {"attributes": {"x": {"type": "string"}}}}}),
        "references": j({"models": {"Org": {"table": "orgs", "attributes": {
            "name": {"type": "string", "max_length": 10, "unique": True, "enum": ["a", "b"]}}},
            "Member": {"order": "-org_id,level", "server_only": False, "attributes": {
                "org_id": {"type": "reference", "references": "Org", "required": True},
                "level": {"type": "integer", "min": -5, "max": 5, "enum": [1, 2]},
                "at": {"type": "timestamp"}, "doc": {"type": "json"}},
                "scopes": {"top": {"level": {"gte": 3}, "not": {"at": {"null": True}}}}}}}),
        "bad_name": j({"models": {"todo": {"attributes": {"Title": {"type": "strin"}}}}}),
    }


def policies_loader():
    return {
        "config": read("config/policies.json"),
        "rest": read("tests/system/policies_rest.json"),
        "widget": read("tests/fuzz/data/policies_widget.json"),
        "limits": read("tests/fuzz/data/policies_limits.json"),
        "write_rules": j({"channels": {"Application": {"connect": "never"}}, "models": {"Todo": {
            "broadcast": [{"send_all_but": ["notes"], "to": ["Application"],
                           "when": {"done": {"eq": False}}}],
            "write": {"create": {"any": ["authenticated", {"after": {"title": {"ne": "x"}}}]},
                      "update": {"all": [{"before": {"done": {"eq": False}}},
                                         {"attribute": "team_id", "in_claim": "teams",
                                          "of": "after"}]},
                      "destroy": {"claim": "org.admin", "contains": "yes"}}}}}),
    }


def route():
    todo = {"id": 1, "version": 1, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "title": "buy milk", "done": False,
            "private": False, "owner_id": 7, "team_id": 3, "notes": "2 litres"}
    moved = dict(todo, version=2, team_id=4, private=True)
    widget = {"id": 5, "version": 3, "name": "bolt", "qty": 2, "active": True, "tag": "x",
              "color": "green", "author_id": 3, "due_at": "2026-02-01T00:00:00Z", "notes": "n"}
    return {
        "todo_create": j({"model": "Todo", "id": 1, "op": "create", "version": 1,
                          "after": todo, "changed": list(todo)}),
        "todo_update": j({"model": "Todo", "id": 1, "op": "update", "version": 2,
                          "before": todo, "after": moved, "changed": ["team_id", "private"]}),
        "todo_destroy": j({"model": "Todo", "id": 1, "op": "destroy", "version": 3,
                           "before": moved}),
        "dictionary": j({"model": "Dictionary", "id": 2, "op": "create", "version": 1,
                         "after": {"id": 2, "word": "w"}, "changed": ["word", 3]}),
        "widget_update": j({"model": "Widget", "id": 5, "op": "update", "version": 4,
                            "before": widget, "after": dict(widget, active=False, qty=0,
                                                            author_id=None),
                            "changed": ["active", "qty", "author_id"]}),
        "ghost": j({"model": "Ghost", "id": 1, "op": "create", "version": 1, "after": {}}),
    }


def authorize():
    def seed(claims, channel, model, op, before, after):
        return SEP.join([b"" if claims is None else j(claims), channel.encode(), model.encode(),
                         op.encode(), b"" if before is None else j(before),
                         b"" if after is None else j(after)])
    alice = {"sub": "7", "teams": [3, "4"], "role": "user"}
    todo = {"id": 1, "title": "t", "owner_id": 7, "team_id": 3, "private": False}
    widget = {"id": 5, "name": "bolt", "qty": 2, "active": True, "tag": "x", "author_id": 3}
    return {
        "anonymous_app": seed(None, "Application", "Dictionary", "destroy", {"id": 2}, None),
        "alice_user": seed(alice, "User-7", "Todo", "create", None, todo),
        "alice_team": seed(alice, "Team-4", "Todo", "update", todo, dict(todo, owner_id=8)),
        "admin": seed({"sub": 1, "role": "admin"}, "Admins", "Todo", "destroy", todo, None),
        "org": seed({"org": {"id": 1}, "scope": "read widgets", "tags": ["x"]}, "Org",
                    "Widget", "destroy", widget, None),
        "tag": seed({"sub": "3", "tags": "x y"}, "Tag-x", "Widget", "update", widget,
                    dict(widget, qty=-1)),
        "author": seed({"sub": 3}, "Author-3", "Widget", "create", None, widget),
        "bad_channel": seed(alice, "User-", "Ghost", "explode", [], 3),
        "many_teams": seed({"sub": "7", "teams": list(range(1200))}, "Team-1100", "Todo",
                           "update", todo, todo),
    }


def pem_blocks(rel):
    """The DER bytes of each PEM block of file rel (standard library: PEM is base64)."""
    out, body = [], None
    for line in read(rel).decode().splitlines():
        if line.startswith("-----BEGIN"):
            body = []
        elif line.startswith("-----END"):
            out.append(base64.b64decode("".join(body)))
            body = None
        elif body is not None:
            body.append(line.strip())
    return out


def der_read(data, i):
    """(tag, value, next index) of the DER element at data[i]."""
    tag, n = data[i], data[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[i:i + k], "big")
        i += k
    return tag, data[i:i + n], i + n


def rsa_numbers(der):
    """n and e (big-endian bytes) of an RSA SubjectPublicKeyInfo."""
    _, spki, _ = der_read(der, 0)
    _, _, i = der_read(spki, 0)              # AlgorithmIdentifier
    _, bits, _ = der_read(spki, i)           # BIT STRING: unused-bits byte, RSAPublicKey
    _, seq, _ = der_read(bits[1:], 0)
    _, n, i = der_read(seq, 0)
    _, e, _ = der_read(seq, i)
    return n.lstrip(b"\0"), e


def ec_point(der, size):
    """x and y of an EC SubjectPublicKeyInfo (uncompressed point, size-byte coordinates)."""
    point = der[-(1 + 2 * size):]
    assert point[0] == 4, "not an uncompressed EC point"
    return point[1:1 + size], point[1 + size:]


def jwks():
    """Key sets: the harness's RS256 key (data/jwt_rs256.pub) and one EC key per curve
    (data/jwks_ec.pub), as providers publish them, and every kind of key the parser skips."""
    n, e = rsa_numbers(pem_blocks("tests/fuzz/data/jwt_rs256.pub")[0])
    rsa = {"kty": "RSA", "n": b64url(n).decode(), "e": b64url(e).decode()}
    ec = []
    for der, (crv, size) in zip(pem_blocks("tests/fuzz/data/jwks_ec.pub"),
                                (("P-256", 32), ("P-384", 48), ("P-521", 66))):
        x, y = ec_point(der, size)
        ec.append({"kty": "EC", "crv": crv, "x": b64url(x).decode(), "y": b64url(y).decode()})
    p256, p384, p521 = ec
    bad_y = dict(p256, y=b64url(bytes(32)).decode())  # not on the curve
    skipped = [
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
        dict(rsa, kid="enc", use="enc"),
        dict(rsa, kid="sign-only", key_ops=["sign"]),
        dict(rsa, kid="private", d="AQAB"),
        dict(p256, kid="ec-private", d=b64url(bytes(32)).decode()),
        {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
        dict(p256, kid="p192", crv="P-192"),
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64url(bytes(32)).decode()},
        dict(rsa, kid="none", alg="none"),
        dict(p256, kid="wrong-alg", alg="RS256"),
        dict(rsa, kid=7),
        dict(rsa, kid=""),
        dict(bad_y, kid="off-curve"),
        "not a key",
    ]
    return {
        "rsa_rs256": j({"keys": [dict(rsa, kid="rsa1", use="sig", alg="RS256")]}),
        "rsa_ps256_ops": j({"keys": [dict(rsa, kid="pss", alg="PS256",
                                           key_ops=["verify"])]}),
        "ec_p256_es256": j({"keys": [dict(p256, kid="ec1", use="sig", alg="ES256")]}),
        "ec_all_curves": j({"keys": [dict(p256, kid="a"), dict(p384, kid="b"),
                                     dict(p521, kid="c", alg="ES512")]}),
        "rotation": j({"keys": [dict(rsa, kid="2026-11"), dict(rsa, kid="2026-12", alg="RS256"),
                                dict(p256, kid="2026-12", alg="ES256")]}),
        "no_kid": j({"keys": [rsa]}),
        "skipped": j({"keys": skipped}),
        "empty": b'{"keys":[]}',
        "not_a_set": b'{"kid":"x","kty":"RSA"}',
        "too_many": j({"keys": [{"kty": "EC"}] * 65}),
        "duplicate_member": b'{"keys":[],"keys":[]}',
    }


def main():
    new_key = "--new-rsa-key" in sys.argv[1:]
    write("proto_frame", proto_frame())
    seeds, keep = jwt(new_key)
    write("jwt", seeds, keep)
    write("condition", condition())
    write("list_query", list_query())
    write("models_loader", models_loader())
    write("policies_loader", policies_loader())
    write("route", route())
    write("authorize", authorize())
    write("jwks", jwks())
    for t in sorted(os.listdir(CORPUS)):
        print(f"{t}: {len(os.listdir(os.path.join(CORPUS, t)))} seeds")


if __name__ == "__main__":
    main()
