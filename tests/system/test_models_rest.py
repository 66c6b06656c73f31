"""The schema-driven REST API of model-api (issue "Models"), against a private stack
(PostgreSQL + Kafka + model-api) serving tests/system/models_rest.json: every endpoint and
status, filters, scopes, order, limit, keyset cursors under concurrent inserts, optimistic
concurrency, and a barrage of hostile input that must only ever get 4xx JSON errors.

Each test works on rows carrying its own `tag`, so tests do not see each other's rows.
"""

import base64
import functools
import json
import os
import random
import socket
import subprocess
from datetime import datetime

import pytest
import requests

from mc_testlib import (CORE, MODELS_FILE, POLICIES_FILE, Api, check_eq, check_json_error, new_tag,
                        start_second_model_api, stop_process, wait_ready)

W = "Widget"
DECLARED = ("name", "notes", "qty", "big", "price", "active", "due_at", "meta", "author_id",
            "color", "level", "sku", "tag")


@pytest.fixture(scope="module")
def models_stack(stack_factory):
    s = stack_factory(MODELS_FILE, CORE, POLICIES_FILE)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(models_stack):
    return Api(models_stack.api_url)


# ------------------------------------------------------------------------------ helpers

def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def norm(attr, v):
    """A record value in a form Python compares as PostgreSQL orders it."""
    if v is None:
        return None
    if attr in ("due_at", "created_at", "updated_at"):
        return ts(v)
    return v


def order_keys(spec):
    keys = [(k.lstrip("-"), k.startswith("-")) for k in spec.split(",")]
    if "id" not in [k for k, _ in keys]:
        keys.append(("id", False))
    return keys


def cmp_records(a, b, keys):
    """ORDER BY k ASC NULLS LAST / k DESC NULLS FIRST, ..., id."""
    for attr, desc in keys:
        va, vb = norm(attr, a.get(attr)), norm(attr, b.get(attr))
        if va == vb:
            continue
        if va is None:
            return -1 if desc else 1
        if vb is None:
            return 1 if desc else -1
        c = (va > vb) - (va < vb)
        return -c if desc else c
    return 0


def sort_records(records, spec):
    return sorted(records, key=functools.cmp_to_key(lambda a, b: cmp_records(a, b, order_keys(spec))))


def fetch_all(api, params, limit, max_pages):
    """Follows next_cursor to the end; returns (records in page order, number of pages)."""
    out, cursor = [], None
    for page in range(1, max_pages + 1):
        p = dict(params, limit=limit)
        if cursor:
            p["cursor"] = cursor
        body = api.list(W, p)
        assert len(body["data"]) <= limit, f"page {page}: {len(body['data'])} rows > limit {limit}"
        out.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return out, page
    pytest.fail(f"still a next_cursor after {max_pages} pages of {limit} ({len(out)} rows)")


def widget(tag, **kw):
    f = {"name": "w", "tag": tag}
    f.update(kw)
    return f


FULL = {
    "name": "everything", "notes": "long text\nwith lines", "qty": 12, "big": 9007199254740993,
    "price": 19.25, "active": True, "due_at": "2026-05-01T10:00:00+02:00",
    "meta": {"nested": [1, "two", {"three": None}], "ok": True}, "author_id": 7,
    "color": "green", "level": 3,
}


def check_record_matches(rec, fields):
    for k, v in fields.items():
        if k == "due_at":
            check_eq(ts(rec[k]), ts(v), f"record[{k!r}] (as a time)")
        else:
            check_eq(rec[k], v, f"record[{k!r}]")


# ---------------------------------------------------------------------- models, create, get

def test_models_lists_served_models_with_attributes(api):
    r = api.get("/v1/models")
    check_eq(r.status_code, 200, f"GET /v1/models (body {r.text!r})")
    models = {m["name"]: m for m in r.json()["models"]}
    check_eq(sorted(models), ["Author", "Widget"], "served models (Secret is server_only)")
    attrs = models[W]["attributes"]
    check_eq(sorted(attrs), sorted(DECLARED), "Widget attributes")
    types = {k: v["type"] for k, v in attrs.items()}
    check_eq(types, {"name": "string", "notes": "text", "qty": "integer", "big": "bigint",
                     "price": "float", "active": "boolean", "due_at": "timestamp", "meta": "json",
                     "author_id": "reference", "color": "string", "level": "integer",
                     "sku": "string", "tag": "string"}, "Widget attribute types")
    check_eq(attrs["name"]["required"], True, "name.required")
    check_eq(attrs["qty"]["required"], False, "qty.required")
    check_eq(attrs["name"].get("max_length"), 20, "name.max_length")
    check_eq(attrs["author_id"].get("references"), "Author", "author_id.references")


def test_create_every_type_201_with_location_then_get(api):
    tag = new_tag()
    fields = dict(FULL, tag=tag, sku=f"sku-{tag}")
    r = api.request("POST", f"/v1/{W}", json=fields)
    check_eq(r.status_code, 201, f"POST status (body {r.text!r})")
    rec = r.json()
    check_eq(r.headers.get("Location"), f"/v1/{W}/{rec['id']}", "Location header")
    check_eq(rec["version"], 1, "version")
    check_eq(rec["created_at"], rec["updated_at"], "updated_at of a new record")
    check_record_matches(rec, fields)
    check_eq(sorted(rec), sorted(("id", "version", "created_at", "updated_at") + DECLARED), "record keys")
    got = api.get(r.headers["Location"])
    check_eq(got.status_code, 200, "GET Location")
    check_eq(got.json(), rec, "GET by id vs POST answer")
    # Only the required attribute: the others are null.
    rec2 = api.create(W, {"name": "bare"})
    for k in DECLARED:
        if k != "name":
            check_eq(rec2[k], None, f"unset attribute {k}")
    # Boundary values are accepted.
    rec3 = api.create(W, {"name": "x" * 20, "qty": 1000, "price": 0, "big": -9223372036854775808,
                          "level": 1, "color": "red", "meta": "just a string", "tag": tag})
    check_eq(rec3["qty"], 1000, "qty at max")
    check_eq(rec3["big"], -9223372036854775808, "smallest bigint")
    check_eq(rec3["meta"], "just a string", "json attribute holding a string")
    # max_length counts characters, not bytes.
    rec4 = api.create(W, {"name": "é" * 20, "tag": tag})
    check_eq(rec4["name"], "é" * 20, "20 two-byte characters")
    r = api.request("POST", f"/v1/{W}", json={"name": "é" * 21})
    err = check_json_error(r, 422, "invalid")
    check_eq(err.get("details"), {"name": ["is longer than 20 characters"]}, "details")


def test_validation_errors_name_every_attribute(api):
    body = {"id": 5, "version": 3, "created_at": "2026-01-01T00:00:00Z", "name": "n" * 21,
            "notes": 5, "qty": -1, "big": 1.5, "price": "cheap", "active": "yes",
            "due_at": "tomorrow", "author_id": "seven", "color": "pink", "level": 4,
            "nope": 1}
    r = api.request("POST", f"/v1/{W}", json=body)
    err = check_json_error(r, 422, "invalid")
    details = err.get("details")
    assert isinstance(details, dict), f"details: expected an object, got {details!r}"
    check_eq(sorted(details), sorted(body), "attributes with errors")
    for k in ("id", "version", "created_at"):
        check_eq(details[k], ["is maintained by the server"], f"details[{k!r}]")
    expected = {
        "name": "is longer than 20 characters", "notes": "must be a string",
        "qty": "must be at least 0", "big": "must be an integer", "price": "must be a number",
        "active": "must be true or false", "color": "is not one of the allowed values",
        "level": "is not one of the allowed values", "nope": "is not an attribute of this model",
        "author_id": "must be an integer",
    }
    for k, msg in expected.items():
        check_eq(details[k], [msg], f"details[{k!r}]")
    assert "RFC 3339" in details["due_at"][0], f"details['due_at']: {details['due_at']!r}"

    cases = [
        ({}, "name", "is required"),
        ({"name": None}, "name", "is required"),
        ({"name": "x", "qty": 1001}, "qty", "must be at most 1000"),
        ({"name": "x", "qty": 2147483648}, "qty", "must be an integer in the 32-bit range"),
        ({"name": "x", "qty": 1.5}, "qty", "must be an integer in the 32-bit range"),
        ({"name": "x", "price": -0.01}, "price", "must be at least 0"),
        ({"name": "x", "price": 1e308}, "price", "must be at most 1e+06"),
        ({"name": "x", "level": "1"}, "level", "must be an integer in the 32-bit range"),
        ({"name": "x", "color": "Red"}, "color", "is not one of the allowed values"),
        ({"name": "x", "notes": "n" * 1001}, "notes", "is longer than 1000 characters"),
        ({"name": "x", "active": 1}, "active", "must be true or false"),
        ({"name": "x", "due_at": "2026-13-01T00:00:00Z"}, "due_at", None),
    ]
    for fields, attr, msg in cases:
        r = api.request("POST", f"/v1/{W}", json=fields)
        err = check_json_error(r, 422, "invalid", what=f"POST {fields!r}")
        details = err.get("details") or {}
        assert list(details) == [attr], f"POST {fields!r}: details {details!r}, expected only {attr!r}"
        if msg:
            check_eq(details[attr], [msg], f"POST {fields!r}: details[{attr!r}]")
    check_eq(api.count(W, {"name": "n" * 21}), 0, "nothing was written by the refused requests")


def test_unique_attribute_is_already_taken(api):
    tag = new_tag()
    first = api.create(W, widget(tag, sku=f"u-{tag}"))
    r = api.request("POST", f"/v1/{W}", json=widget(tag, sku=f"u-{tag}"))
    err = check_json_error(r, 422, "invalid")
    check_eq(err.get("details"), {"sku": ["is already taken"]}, "details of a duplicate sku")
    other = api.create(W, widget(tag, sku=f"v-{tag}"))
    r = api.request("PATCH", f"/v1/{W}/{other['id']}", json={"sku": f"u-{tag}"})
    err = check_json_error(r, 422, "invalid")
    check_eq(err.get("details"), {"sku": ["is already taken"]}, "details of a PATCH to a taken sku")
    # NULL is not a value: many rows may leave a unique attribute unset.
    api.create(W, widget(tag))
    api.create(W, widget(tag))
    check_eq(api.count(W, {"tag": tag}), 4, "rows of the tag")
    check_eq(api.list(W, {"sku": f"u-{tag}"})["data"][0]["id"], first["id"], "the sku owner")
    # Author.email is unique too (a second model with its own index).
    api.create("Author", {"name": "a", "email": f"{tag}@example.org"})
    r = api.request("POST", "/v1/Author", json={"name": "b", "email": f"{tag}@example.org"})
    err = check_json_error(r, 422, "invalid")
    check_eq(err.get("details"), {"email": ["is already taken"]}, "Author duplicate email")


# -------------------------------------------------------------------- filters, scopes, order

DATA = [
    dict(name="alpha", qty=0, price=5.5, active=True, color="red", level=1,
         notes="n1", due_at="2026-03-01T00:00:00Z", meta={"k": 1}, author_id=7, big=10),
    dict(name="bravo", qty=5, price=9.99, active=False, color="blue", level=2,
         due_at="2025-12-31T23:59:59.5Z", author_id=8, big=-10),
    dict(name="charlie", qty=10, price=10.0, active=True, color="green", level=3,
         notes="n3", big=2 ** 40),
    dict(name="delta", qty=20, price=100.0, active=None, color=None, level=None,
         due_at="2026-12-31T23:59:59+01:00", meta=[1, 2]),
    dict(name="echo", qty=None, price=None, active=True, color="red", level=1,
         notes="n5", due_at="2027-01-01T00:00:00Z", author_id=7),
    dict(name="foxtrot", qty=50, price=0.0, active=False, color="red", level=2, big=0),
    dict(name="golf", qty=100, price=250.75, active=True, color="blue", level=3,
         notes="n7", due_at="2026-06-15T12:00:00.123456Z", meta=None),
    dict(name="hotel", qty=1000, price=9.5, active=True, color="red", level=None, author_id=9),
    dict(name="alpha", qty=5, price=None, active=None, color="green", level=1,
         notes="", meta={}),
]


@pytest.fixture(scope="module")
def dataset(api):
    """DATA created through REST under one tag; returns (tag, records as the API answered)."""
    tag = new_tag()
    recs = [api.create(W, dict(d, tag=tag)) for d in DATA]
    return tag, recs


def check_query(api, tag, recs, params, pred, what):
    """GET list and count with params (plus the tag) against the rows where pred holds, in
    the model's default order."""
    expected = [r for r in recs if pred(r)]
    p = dict(params, tag=tag)
    body = api.list(W, dict(p, limit=500))
    got_ids = [r["id"] for r in body["data"]]
    exp_ids = [r["id"] for r in sort_records(expected, "-qty,name")]
    check_eq(got_ids, exp_ids, f"{what}: ids of GET /v1/{W}?{params}")
    check_eq(body["next_cursor"], None, f"{what}: next_cursor")
    check_eq(api.count(W, p), len(expected), f"{what}: count")


def after(rec, attr, ref):
    return rec[attr] is not None and ts(rec[attr]) > ts(ref)


def test_filters_every_operator(api, dataset):
    tag, recs = dataset
    mid = recs[4]["created_at"]
    cases = [
        ({}, lambda r: True, "no filter"),
        ({"name": "alpha"}, lambda r: r["name"] == "alpha", "eq string"),
        ({"name[eq]": "bravo"}, lambda r: r["name"] == "bravo", "explicit eq"),
        ({"qty": "5"}, lambda r: r["qty"] == 5, "eq integer"),
        ({"qty[ne]": "5"}, lambda r: r["qty"] != 5, "ne (NULL is distinct from 5)"),
        ({"qty[gt]": "10"}, lambda r: r["qty"] is not None and r["qty"] > 10, "gt"),
        ({"qty[gte]": "10"}, lambda r: r["qty"] is not None and r["qty"] >= 10, "gte"),
        ({"qty[lt]": "10"}, lambda r: r["qty"] is not None and r["qty"] < 10, "lt"),
        ({"qty[lte]": "10"}, lambda r: r["qty"] is not None and r["qty"] <= 10, "lte"),
        ({"qty[gte]": "5", "qty[lt]": "100"}, lambda r: r["qty"] is not None and 5 <= r["qty"] < 100, "range"),
        ({"price[lt]": "9.99"}, lambda r: r["price"] is not None and r["price"] < 9.99, "float lt"),
        ({"price[gte]": "9.99"}, lambda r: r["price"] is not None and r["price"] >= 9.99, "float gte"),
        ({"big[gt]": "0"}, lambda r: r["big"] is not None and r["big"] > 0, "bigint gt"),
        ({"active": "true"}, lambda r: r["active"] is True, "boolean eq"),
        ({"active[ne]": "true"}, lambda r: r["active"] is not True, "boolean ne"),
        ({"active[null]": "true"}, lambda r: r["active"] is None, "null true"),
        ({"notes[null]": "false"}, lambda r: r["notes"] is not None, "null false"),
        ({"meta[null]": "false"}, lambda r: r["meta"] is not None, "json null false"),
        ({"meta[null]": "true"}, lambda r: r["meta"] is None, "json null true"),
        ({"color[in]": "red,blue"}, lambda r: r["color"] in ("red", "blue"), "in strings"),
        ({"level[in]": "1,3"}, lambda r: r["level"] in (1, 3), "in integers"),
        ({"id[in]": f"{recs[0]['id']},{recs[2]['id']},999999999"},
         lambda r: r["id"] in (recs[0]["id"], recs[2]["id"]), "id in"),
        ({"id[gt]": str(recs[5]["id"])}, lambda r: r["id"] > recs[5]["id"], "id gt"),
        ({"author_id": "7"}, lambda r: r["author_id"] == 7, "reference eq"),
        ({"name[gt]": "delta"}, lambda r: r["name"] > "delta", "string gt (code point order)"),
        ({"name[lte]": "bravo"}, lambda r: r["name"] <= "bravo", "string lte"),
        ({"due_at[gt]": "2026-06-15T12:00:00.123456Z"},
         lambda r: after(r, "due_at", "2026-06-15T12:00:00.123456Z"), "timestamp gt (microseconds)"),
        ({"due_at[lte]": "2026-12-31T22:59:59Z"},
         lambda r: r["due_at"] is not None and ts(r["due_at"]) <= ts("2026-12-31T22:59:59Z"), "timestamp lte, other offset"),
        ({"due_at[gte]": "2026-01-01T01:00:00+01:00"},
         lambda r: r["due_at"] is not None and ts(r["due_at"]) >= ts("2026-01-01T00:00:00Z"), "timestamp with offset"),
        ({"created_at[gt]": mid}, lambda r: after(r, "created_at", mid), "created_at gt"),
        ({"updated_at[lte]": mid}, lambda r: ts(r["updated_at"]) <= ts(mid), "updated_at lte"),
        ({"name": "alpha", "qty[gt]": "0", "notes[null]": "false"},
         lambda r: r["name"] == "alpha" and (r["qty"] or 0) > 0 and r["notes"] is not None, "and of three"),
        ({"name": "nobody"}, lambda r: False, "no match"),
    ]
    for params, pred, what in cases:
        check_query(api, tag, recs, params, pred, what)


SCOPES = {
    "in_stock": lambda r: r["qty"] is not None and r["qty"] > 0,
    "enabled": lambda r: r["active"] is True,
    "noted": lambda r: r["notes"] is not None,
    "primary": lambda r: r["color"] in ("red", "blue"),
    "cheap_or_bulk": lambda r: (r["price"] is not None and r["price"] < 10) or (r["qty"] is not None and r["qty"] >= 100),
    "enabled_red": lambda r: r["active"] is True and r["color"] == "red",
    "not_green": lambda r: r["color"] != "green",  # NOT (NULL = 'green') holds, as in mc_cond_eval
    "mid_qty": lambda r: r["qty"] is not None and 10 <= r["qty"] <= 50 and r["qty"] != 20,
    "due_2026": lambda r: r["due_at"] is not None and ts("2026-01-01T00:00:00Z") <= ts(r["due_at"]) < ts("2027-01-01T00:00:00Z"),
}


def test_scopes_single_and_several(api, dataset):
    tag, recs = dataset
    for name, pred in SCOPES.items():
        check_query(api, tag, recs, {"scope": name}, pred, f"scope={name}")
    combos = [("enabled", "primary"), ("in_stock", "noted", "cheap_or_bulk"), ("not_green", "due_2026")]
    for combo in combos:
        check_query(api, tag, recs, {"scope": ",".join(combo)},
                    lambda r, c=combo: all(SCOPES[s](r) for s in c), f"scope={','.join(combo)}")
    check_query(api, tag, recs, {"scope": "enabled", "color": "red", "qty[gt]": "0"},
                lambda r: SCOPES["enabled"](r) and r["color"] == "red" and (r["qty"] or 0) > 0,
                "scope with filters")


@pytest.mark.parametrize("spec", [
    "-qty,name", "qty", "name,-price", "-due_at", "due_at,-id", "active,-name", "-level,color,-big",
    "author_id", "-created_at", "price,level,qty",
])
def test_order_several_keys_desc_and_nulls(api, dataset, spec):
    tag, recs = dataset
    body = api.list(W, {"tag": tag, "order": spec, "limit": 100})
    check_eq([r["id"] for r in body["data"]], [r["id"] for r in sort_records(recs, spec)],
             f"order={spec} (ASC NULLS LAST, DESC NULLS FIRST, then id)")


def test_default_order_is_the_models(api, dataset):
    tag, recs = dataset
    ids = api.list_ids(W, {"tag": tag})
    check_eq(ids, [r["id"] for r in sort_records(recs, "-qty,name")], "default order -qty,name,id")


def test_get_put_count_follow_filters(api, dataset):
    tag, recs = dataset
    for rec in recs[:3]:
        r = api.get(f"/v1/{W}/{rec['id']}")
        check_eq(r.status_code, 200, "GET by id")
        check_eq(r.json(), rec, "GET by id body")
    check_eq(api.count(W, {"tag": tag}), len(recs), "count of the tag")
    check_eq(api.count(W, {"tag": tag, "scope": "enabled"}),
             sum(1 for r in recs if SCOPES["enabled"](r)), "count with a scope")
    check_eq(api.count(W, {"tag": tag, "limit": "1", "order": "name"}), len(recs),
             "count ignores limit and order")


def test_limit_default_50_and_capped_at_500(api, models_stack):
    tag = new_tag()
    models_stack.psql(
        f"INSERT INTO widgets (name, tag, qty) SELECT 'bulk' || g, '{tag}', g % 7 "
        "FROM generate_series(1, 510) g")
    check_eq(api.count(W, {"tag": tag}), 510, "rows inserted by psql")
    body = api.list(W, {"tag": tag})
    check_eq(len(body["data"]), 50, "default page size")
    assert body["next_cursor"], "default page: expected a next_cursor"
    body = api.list(W, {"tag": tag, "limit": 100000})
    check_eq(len(body["data"]), 500, "limit above the cap")
    assert body["next_cursor"], "capped page: expected a next_cursor"
    rows, pages = fetch_all(api, {"tag": tag}, 500, 5)
    check_eq(pages, 2, "pages of 500 for 510 rows")
    check_eq(len({r["id"] for r in rows}), 510, "distinct rows over the pages")
    body = api.list(W, {"tag": tag, "limit": 1})
    check_eq(len(body["data"]), 1, "limit=1")


@pytest.mark.parametrize("spec", [None, "qty", "-due_at,price", "active,-name", "-created_at"])
def test_cursor_pages_stay_correct_while_rows_are_inserted(api, spec):
    """Keyset pages over a non-unique order with NULLs: while rows are inserted between page
    fetches, every row that existed at the start is returned exactly once, no row twice, and
    the pages together are in order."""
    rnd = random.Random(f"cursor-{spec}")
    tag = new_tag()

    def random_row():
        return widget(tag, name=rnd.choice(["a", "b", "c"]), qty=rnd.choice([None, 0, 1, 2, 3]),
                      price=rnd.choice([None, 1.5, 2.0]), active=rnd.choice([None, True, False]),
                      due_at=rnd.choice([None, "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"]))

    initial = [api.create(W, random_row()) for _ in range(30)]
    params = {"tag": tag}
    if spec:
        params["order"] = spec
    seen, cursor, inserted = [], None, []
    for page in range(1, 40):
        p = dict(params, limit=4)
        if cursor:
            p["cursor"] = cursor
        body = api.list(W, p)
        seen.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        inserted.extend(api.create(W, random_row()) for _ in range(2))
    else:
        pytest.fail("pagination did not end within 40 pages")
    ids = [r["id"] for r in seen]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"order={spec}: rows returned twice: {dupes}"
    missing = sorted({r["id"] for r in initial} - set(ids))
    assert not missing, f"order={spec}: rows that existed at the start were skipped: {missing}"
    keys = order_keys(spec or "-qty,name")
    for a, b in zip(seen, seen[1:]):
        assert cmp_records(a, b, keys) < 0, f"order={spec}: pages out of order: {a!r} before {b!r}"
    # The rows inserted meanwhile that sort after the last row of the first page all appear.
    assert len(inserted) > 0, "the test inserted nothing between pages"


# ------------------------------------------------------------------------ PATCH and DELETE

def test_patch_partial_and_if_match(api):
    tag = new_tag()
    rec = api.create(W, dict(FULL, tag=tag))
    upd = api.patch(W, rec["id"], {"qty": 13})
    check_eq(upd["version"], 2, "version after PATCH")
    check_eq(upd["qty"], 13, "patched attribute")
    for k in DECLARED:
        if k != "qty":
            check_eq(upd[k], rec[k], f"untouched attribute {k}")
    check_eq(upd["created_at"], rec["created_at"], "created_at after PATCH")
    assert ts(upd["updated_at"]) >= ts(rec["updated_at"]), f"updated_at went back: {upd['updated_at']} < {rec['updated_at']}"
    upd = api.patch(W, rec["id"], {"notes": None, "meta": [1]}, if_match=2)
    check_eq((upd["version"], upd["notes"], upd["meta"]), (3, None, [1]), "PATCH with If-Match: 2")
    upd = api.patch(W, rec["id"], {"level": 1}, if_match='"3"')
    check_eq(upd["version"], 4, "PATCH with If-Match: \"3\"")
    upd = api.patch(W, rec["id"], {"level": 2}, if_match='W/"4"')
    check_eq(upd["version"], 5, "PATCH with If-Match: W/\"4\"")
    r = api.request("PATCH", f"/v1/{W}/{rec['id']}", json={"qty": 99}, headers={"If-Match": "2"})
    err = check_json_error(r, 412, "version_mismatch")
    check_eq(err.get("details"), {"expected_version": 2, "current_version": 5}, "412 details")
    check_eq(api.get(f"/v1/{W}/{rec['id']}").json()["qty"], 13, "qty after the refused PATCH")
    for bad in ("abc", "0", "-1", "1.0", '"', "", "1 2", "9" * 30):
        r = api.request("PATCH", f"/v1/{W}/{rec['id']}", json={"qty": 1}, headers={"If-Match": bad})
        check_json_error(r, 400, what=f"If-Match {bad!r}")
    for body, attr, msg in [({"name": None}, "name", "is required"),
                            ({"version": 9}, "version", "is maintained by the server"),
                            ({"id": 9}, "id", "is maintained by the server"),
                            ({"qty": 2000}, "qty", "must be at most 1000")]:
        r = api.request("PATCH", f"/v1/{W}/{rec['id']}", json=body)
        err = check_json_error(r, 422, "invalid", what=f"PATCH {body!r}")
        check_eq(err.get("details"), {attr: [msg]}, f"PATCH {body!r} details")
    r = api.request("PATCH", f"/v1/{W}/{rec['id']}", json={})
    check_json_error(r, 422, "invalid", what="PATCH {}")
    check_eq(api.get(f"/v1/{W}/{rec['id']}").json()["version"], 5, "version after refused PATCHes")
    r = api.request("PATCH", f"/v1/{W}/987654321", json={"qty": 1})
    check_json_error(r, 404, "not_found", what="PATCH unknown id")
    r = api.request("PATCH", f"/v1/{W}/987654321", json={"qty": 1}, headers={"If-Match": "1"})
    check_json_error(r, 404, "not_found", what="PATCH unknown id with If-Match")


def test_delete_and_if_match(api):
    tag = new_tag()
    rec = api.create(W, widget(tag))
    api.patch(W, rec["id"], {"qty": 1})
    r = api.request("DELETE", f"/v1/{W}/{rec['id']}", headers={"If-Match": "1"})
    err = check_json_error(r, 412, "version_mismatch")
    check_eq(err.get("details"), {"expected_version": 1, "current_version": 2}, "412 details")
    check_eq(api.get(f"/v1/{W}/{rec['id']}").status_code, 200, "record after a refused DELETE")
    r = api.delete(W, rec["id"], if_match=2)
    check_eq(r.content, b"", "204 body")
    check_json_error(api.get(f"/v1/{W}/{rec['id']}"), 404, "not_found", what="GET deleted")
    check_json_error(api.request("DELETE", f"/v1/{W}/{rec['id']}"), 404, "not_found", what="DELETE again")
    check_json_error(api.request("PATCH", f"/v1/{W}/{rec['id']}", json={"qty": 2}), 404, "not_found",
                     what="PATCH deleted")
    rec2 = api.create(W, widget(tag))
    api.delete(W, rec2["id"])
    check_eq(api.count(W, {"tag": tag}), 0, "rows of the tag after the deletes")
    r = api.request("DELETE", f"/v1/{W}/{rec2['id']}", headers={"If-Match": "x"})
    check_json_error(r, {400, 404}, what="DELETE with a malformed If-Match")


# ---------------------------------------------------------------------- 404 405 400 413 415

def test_unknown_model_id_and_server_only_are_404(api, models_stack):
    models_stack.psql("INSERT INTO secret (value) VALUES ('hidden')")
    for model in ("Nope", "Secret", "widget", "WIDGET", "modelcast_outbox", "Widget%20"):
        for method, path, kw in [("GET", f"/v1/{model}", {}), ("GET", f"/v1/{model}/count", {}),
                                 ("GET", f"/v1/{model}/1", {}), ("POST", f"/v1/{model}", {"json": {"value": "x"}}),
                                 ("PATCH", f"/v1/{model}/1", {"json": {"value": "x"}}),
                                 ("DELETE", f"/v1/{model}/1", {})]:
            r = api.request(method, path, **kw)
            check_json_error(r, 404, "unknown_model", what=f"{method} {path}")
    check_eq(models_stack.psql("SELECT value FROM secret").split(), ["hidden"], "Secret rows (untouched)")
    for rec_id in ("0", "-1", "abc", "1.5", "99999999999999999999", "987654321", "1e3", "%201"):
        check_json_error(api.get(f"/v1/{W}/{rec_id}"), 404, "not_found", what=f"GET /v1/{W}/{rec_id}")
    for path in ("/nope", "/v1", "/v1/", f"/v1/{W}/1/extra", "/v2/Widget"):
        check_json_error(api.get(path), 404, what=f"GET {path}")


def test_wrong_method_is_405_with_allow(api):
    cases = [("PUT", f"/v1/{W}", "GET, POST"), ("DELETE", f"/v1/{W}", "GET, POST"),
             ("PATCH", f"/v1/{W}", "GET, POST"), ("POST", f"/v1/{W}/1", "GET, PATCH, DELETE"),
             ("PUT", f"/v1/{W}/1", "GET, PATCH, DELETE"), ("PUT", "/v1/models", "GET"),
             ("DELETE", "/v1/models", "GET"), ("POST", f"/v1/{W}/count", "GET"),
             ("PUT", f"/v1/{W}/count", "GET")]
    for method, path, allow in cases:
        r = api.request(method, path, data=b"{}", headers={"Content-Type": "application/json"})
        check_json_error(r, 405, "method_not_allowed", what=f"{method} {path}")
        got = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
        check_eq(got, {m.strip() for m in allow.split(",")}, f"{method} {path}: Allow")


def test_bad_json_bodies_are_400(api):
    rec = api.create(W, widget(new_tag()))
    for body in (b"", b"{", b'{"name": "x",}', b"[1,2]", b'"str"', b"42", b"null", b"true",
                 b'{"name": "x"} trailing', b'{"name": "a", "name": "b"}', b"\xef\xbb\xbf{}",
                 b"{'name': 'x'}", b'{"name": NaN}', b'{"name": "\\ud800"}'):
        for method, path in (("POST", f"/v1/{W}"), ("PATCH", f"/v1/{W}/{rec['id']}")):
            r = api.request(method, path, data=body, headers={"Content-Type": "application/json"})
            check_json_error(r, 400, "bad_json", what=f"{method} body {body!r}")


BAD_QUERIES = [
    {"nope": "1"}, {"qty[like]": "1"}, {"qty[eq": "1"}, {"qty[]": "1"}, {"[eq]": "1"},
    {"qty": "abc"}, {"qty": ""}, {"qty": "1.5"}, {"qty": "99999999999"}, {"big": "9223372036854775808"},
    {"price[gt]": "nan"}, {"price[gt]": "inf"}, {"price[gt]": "1e999"}, {"active": "yes"},
    {"active[gt]": "true"}, {"meta": "1"}, {"meta[eq]": "{}"}, {"notes[null]": "maybe"},
    {"due_at[gt]": "yesterday"}, {"due_at[gt]": "2026-02-31T00:00:00Z"}, {"created_at[lt]": "2026-13-01"},
    {"id[in]": ",".join(str(i) for i in range(1, 102))}, {"id[in]": "1,x"}, {"id[in]": ""},
    {"name": "x" * 1025}, {"limit": "0"}, {"limit": "-1"}, {"limit": "ten"}, {"limit": "1.5"},
    {"limit": "99999999999999999999999"}, {"order": "nope"}, {"order": "meta"}, {"order": "name,name"},
    {"order": ""}, {"order": ","}, {"order": "--qty"}, {"order": "name desc"},
    {"order": ",".join(["name", "qty", "price", "big", "level", "color", "sku", "tag", "active", "due_at"])},
    {"scope": "nope"}, {"scope": ""}, {"scope": "enabled,nope"}, {"scope": "x" * 600},
]


def test_bad_queries_are_400(api):
    for params in BAD_QUERIES:
        for path in (f"/v1/{W}", f"/v1/{W}/count"):
            r = api.get(path, params=params)
            check_json_error(r, 400, "bad_query", what=f"GET {path} {str(params)[:80]}")


def cursor_of(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_bad_cursors_are_400(api):
    tag = new_tag()
    for i in range(3):
        api.create(W, widget(tag, qty=i))
    good = api.list(W, {"tag": tag, "limit": 1, "order": "qty"})["next_cursor"]
    assert good, "expected a next_cursor"
    check_eq(api.list(W, {"tag": tag, "limit": 1, "order": "qty", "cursor": good})["data"][0]["qty"], 1,
             "second page with the cursor")
    bad = ["x", "!!!", "=", good[:-2], good + "AA", "A" * 3000,
           cursor_of({"o": "qty,id", "v": ["x", 1]}), cursor_of({"o": "qty,id", "v": [1]}),
           cursor_of({"o": "qty,id", "v": [1, None]}), cursor_of({"o": "qty,id"}),
           cursor_of([1, 2]), cursor_of({"o": "name,id", "v": ["a", 1]}),
           base64.b64encode(b"\xff\xfe\x00").decode(), "' OR 1=1 --"]
    for c in bad:
        r = api.get(f"/v1/{W}", params={"tag": tag, "limit": 1, "order": "qty", "cursor": c})
        check_json_error(r, 400, "bad_cursor", what=f"cursor {c[:60]!r}")
    # A cursor is bound to its order.
    r = api.get(f"/v1/{W}", params={"tag": tag, "limit": 1, "order": "-qty", "cursor": good})
    check_json_error(r, 400, "bad_cursor", what="cursor of order=qty used with order=-qty")


MAX_BODY = 256 * 1024  # MC_MAX_BODY's default: (MC_EVENT_MAX_BYTES - 4096) / 2 at most


def test_oversized_body_is_413(api):
    rec = api.create(W, widget(new_tag()))
    big = b'{"name": "x", "notes": "' + b"a" * MAX_BODY + b'"}'
    for method, path in (("POST", f"/v1/{W}"), ("PATCH", f"/v1/{W}/{rec['id']}")):
        r = api.request(method, path, data=big, headers={"Content-Type": "application/json"})
        check_json_error(r, 413, "body_too_large", what=f"{method} with Content-Length")

        def chunks():
            yield b'{"name": "x", "notes": "'
            for _ in range(MAX_BODY // 1024 + 20):
                yield b"a" * 1024
            yield b'"}'
        r = api.request(method, path, data=chunks(), headers={"Content-Type": "application/json"})
        check_json_error(r, 413, "body_too_large", what=f"{method} chunked")
    # Just under the limit is parsed (and refused by validation, not by size).
    body = b'{"name": "x", "notes": "' + b"a" * (MAX_BODY - 40) + b'"}'
    r = api.request("POST", f"/v1/{W}", data=body, headers={"Content-Type": "application/json"})
    err = check_json_error(r, 422, "invalid", what="body just under 256 KiB")
    check_eq(list(err.get("details") or {}), ["notes"], "details of a body just under 256 KiB")


def test_json_and_text_values_have_a_bounded_size(api):
    """So that every change event fits in a Kafka message: json values are capped in bytes
    (65,536 by default) as the event prints them, numbers written out in full."""
    tag = new_tag()
    ok = api.create(W, widget(tag, meta={"k": "v" * 65000}))
    check_eq(len(ok["meta"]["k"]), 65000, "a json value under the cap")
    for meta, msg in (({"k": "v" * 65536}, "is larger than 65536 bytes"),
                      ([1e-300] * 300, "is larger than 65536 bytes"),  # 0.000...1, 300 digits each
                      ({"n": 1e19}, "holds a number beyond the 64-bit integer range")):
        r = api.request("POST", f"/v1/{W}", json=widget(tag, meta=meta))
        err = check_json_error(r, 422, "invalid", what=f"meta {str(meta)[:40]}")
        check_eq(err["details"], {"meta": [msg]}, "details")
        r = api.request("PATCH", f"/v1/{W}/{ok['id']}", json={"meta": meta})
        check_json_error(r, 422, "invalid", what=f"PATCH meta {str(meta)[:40]}")
    models = api.get("/v1/models").json()["models"]
    attrs = next(m for m in models if m["name"] == W)["attributes"]
    check_eq(attrs["meta"].get("max_bytes"), 65536, "GET /v1/models: meta's max_bytes")
    check_eq(attrs["notes"].get("max_length"), 1000, "GET /v1/models: notes' max_length")


def test_wrong_content_type_is_415(api):
    rec = api.create(W, widget(new_tag()))
    for ctype in (None, "text/plain", "application/jsonx", "application/x-www-form-urlencoded",
                  "json", "application/json-patch+json"):
        for method, path in (("POST", f"/v1/{W}"), ("PATCH", f"/v1/{W}/{rec['id']}")):
            headers = {"Content-Type": ctype} if ctype else {}
            r = api.request(method, path, data=b'{"name": "x"}', headers=headers)
            check_json_error(r, 415, "unsupported_media_type", what=f"{method} Content-Type {ctype!r}")
    for ctype in ("application/json; charset=utf-8", "Application/JSON"):
        r = api.request("POST", f"/v1/{W}", data=b'{"name": "ctype-ok"}', headers={"Content-Type": ctype})
        check_eq(r.status_code, 201, f"POST with Content-Type {ctype!r} (body {r.text!r})")


# -------------------------------------------------------------------------------- garbage

def nested(depth):
    return "[" * depth + "]" * depth


def test_garbage_never_gets_a_5xx_nor_crashes(api, models_stack):
    pid = models_stack.pid("model-api")
    assert pid, "model-api is not running"
    rnd = random.Random(1234)
    rec = api.create(W, widget(new_tag()))
    targets = (("POST", f"/v1/{W}"), ("PATCH", f"/v1/{W}/{rec['id']}"), ("POST", "/v1/Author"))
    bodies = [bytes(rnd.getrandbits(8) for _ in range(rnd.choice([1, 7, 100, 4096]))) for _ in range(40)]
    bodies += [
        nested(100000).encode(), nested(3000).encode(), ('{"meta": ' + nested(2000) + "}").encode(),
        ('{"name": "x", "meta": ' + "{\"a\":" * 1500 + "1" + "}" * 1500 + "}").encode(),
        b'{"name": "x", "qty": 1e400}', b'{"name": "x", "big": 99999999999999999999999}',
        b'{"name": "x", "price": -1e-400}', b'{"name": "x", "qty": -0}',
        b'{"name": "x\\u0000y"}', b'{"name": "x", "meta": {"a": "b\\u0000"}}',
        b'{"name": "x", "meta": {"\\u0000": 1}}', b'{"name": "\xff\xfe"}', b'{"na\xc3me": "x"}',
        b'{"name": "\xed\xa0\x80"}', b'{"name": "\xc0\xaf"}', b'{"name": "x"}\x00',
        b'\x00{"name": "x"}', b'{"name": "x", "meta": "' + b"\\u00e9" * 1000 + b'"}',
        b'{"name": "x", "due_at": "2026-02-30T00:00:00Z"}', b'{"name": "x", "due_at": "0000-01-01T00:00:00Z"}',
        b'{"name": "x", "due_at": "9999-12-31T23:59:60+23:59"}', b'{"name": "x", "big": -9223372036854775809}',
        b'{"name": "x", "author_id": 18446744073709551615}', b'{"name": ' + b'"' + b"\\\\" * 5000 + b'"}',
        b'{"' + b"k" * 100000 + b'": 1}', b'{"name": "x", "meta": ' + b"[1," * 50000 + b"1" + b"]" * 50000 + b"}",
    ]
    failures = []
    for body in bodies:
        for method, path in targets:
            try:
                r = api.request(method, path, data=body, headers={"Content-Type": "application/json"})
            except requests.RequestException as e:
                failures.append(f"{method} {path} body {body[:40]!r}...: {e!r}")
                continue
            if not (400 <= r.status_code < 500 or r.status_code in (200, 201)):
                failures.append(f"{method} {path} body {body[:40]!r}...: {r.status_code} {r.text[:120]!r}")
            elif r.status_code >= 400:
                try:
                    check_json_error(r, r.status_code)
                except AssertionError as e:
                    failures.append(f"{method} {path} body {body[:40]!r}...: {e}")
    hostile_params = [
        {"name'; DROP TABLE widgets; --": "1"}, {"name": "' OR 1=1 --"}, {"name": "x\"; SELECT pg_sleep(5); --"},
        {"qty": "1 OR 1=1"}, {"qty[gt]": "0) OR (1=1"}, {"qty[gt) OR (1=1": "0"}, {"id[in]": "1) OR (1=1"},
        {"order": "name; DROP TABLE widgets"}, {"order": "(SELECT 1)"}, {"order": "name COLLATE \"C\""},
        {"order": "-id,-" * 50}, {"scope": "enabled' OR '1'='1"}, {"scope": "enabled;--"},
        {"cursor": "' OR 1=1 --"}, {"cursor": "eyJvIjoiJyBPUiAxPTEiLCJ2IjpbXX0"}, {"limit": "1; DROP TABLE widgets"},
        {"name": "%%%%"}, {"name[null]": "true) OR (1=1"}, {"due_at[gt]": "now()"},
        {"due_at[gt]": "2026-01-01T00:00:00Z'::timestamptz OR TRUE --"}, {"\"id\"": "1"}, {"id": "1; DELETE"},
        {"name": "x" * 8000}, {"nope" * 2000: "1"}, {"order": "name," * 3000},
    ]
    for params in hostile_params:
        for path in (f"/v1/{W}", f"/v1/{W}/count"):
            try:
                r = api.get(path, params=params)
            except requests.RequestException as e:
                failures.append(f"GET {path} {str(params)[:60]}: {e!r}")
                continue
            if r.status_code == 200:
                if path.endswith("/count"):
                    continue
                n = len(r.json()["data"])
                if n and ("name" in params or "qty" in params):
                    failures.append(f"GET {path} {str(params)[:60]}: an injected value matched {n} rows")
            else:
                try:
                    check_json_error(r, range(400, 500))
                except AssertionError as e:
                    failures.append(f"GET {path} {str(params)[:60]}: {e}")
    for name, value in [("If-Match", "\x01\x02"), ("If-Match", "9" * 5000), ("Content-Type", "application/json" + "x" * 5000),
                        ("Content-Length", "1")]:
        try:  # a connection of its own: a lying Content-Length leaves bytes behind
            r = requests.patch(api.url(f"/v1/{W}/{rec['id']}"), data=b'{"qty": 1}', timeout=15,
                               headers={"Content-Type": "application/json", name: value})
        except requests.RequestException:
            continue  # a malformed Content-Length may close the connection: fine, if the server lives
        if r.status_code >= 500:
            failures.append(f"PATCH with header {name}: {value[:30]!r}: {r.status_code} {r.text[:120]!r}")
    assert not failures, f"{len(failures)} hostile requests were not answered with a 4xx JSON error:\n" + "\n".join(failures[:30])
    check_eq(models_stack.pid("model-api"), pid, "model-api pid after the barrage (alive, not restarted)")
    r = api.get("/healthz")
    check_eq((r.status_code, r.json().get("status")), (200, "ok"), "/healthz after the barrage")
    check_eq(models_stack.psql("SELECT count(*) FROM pg_tables WHERE tablename IN ('widgets', 'author', 'secret')").strip(),
             "3", "model tables still exist")
    check_eq(api.get(f"/v1/{W}/{rec['id']}").status_code, 200, "GET after the barrage")


# ----------------------------------------------------------- found bugs (see the report)

def test_invalid_utf8_in_query_is_400_not_ignored(api):
    """A filter whose key or value is not UTF-8 must be refused, not silently dropped (which
    widens the result)."""
    tag = new_tag()
    api.create(W, widget(tag, qty=5))
    for qs in (f"tag={tag}&qty=%FF", f"tag={tag}&%FF=1", f"tag={tag}&scope=%FF", f"tag={tag}&order=%FF",
               f"tag={tag}&name=%C3%28"):
        r = api.get(f"/v1/{W}/count?{qs}")
        check_json_error(r, 400, "bad_query", what=f"GET /v1/{W}/count?{qs}")


def test_nul_in_query_value_is_400_not_truncated(api):
    tag = new_tag()
    api.create(W, widget(tag, name="a"))
    r = api.get(f"/v1/{W}/count?tag={tag}&name=a%00b")
    check_json_error(r, 400, "bad_query", what="name=a%00b (would match 'a' when truncated)")


def test_model_and_id_query_parameters_do_not_change_the_route(api):
    tag = new_tag()
    a = api.create("Author", {"name": tag})
    r = api.get("/v1/Author", params={"name": tag, "model": "Widget"})
    if r.status_code != 200:
        check_json_error(r, 400, "bad_query", what="GET /v1/Author?model=Widget")
    else:
        check_eq([x["id"] for x in r.json()["data"]], [a["id"]], "GET /v1/Author?model=Widget lists Authors")
    r = api.get(f"/v1/Author/{a['id']}", params={"id": "1"})
    if r.status_code != 200:
        check_json_error(r, 400, "bad_query", what="GET /v1/Author/{id}?id=1")
    else:
        check_eq(r.json()["id"], a["id"], "GET /v1/Author/{id}?id=1 answers that record")


def test_wrong_method_on_models_and_count_is_405(api):
    """POST /v1/models is taken for POST /v1/{Model} with Model "models" and PATCH/DELETE
    /v1/{M}/count for the id "count": both answer 404 instead of 405 Allow: GET."""
    for method, path in (("POST", "/v1/models"), ("PATCH", f"/v1/{W}/count"), ("DELETE", f"/v1/{W}/count")):
        r = api.request(method, path, data=b"{}", headers={"Content-Type": "application/json"})
        check_json_error(r, 405, "method_not_allowed", what=f"{method} {path}")
        check_eq(r.headers.get("Allow"), "GET", f"{method} {path}: Allow")


def test_multipart_content_type_gets_415_not_a_dropped_connection(api):
    """A form Content-Type made ulfius run libmicrohttpd's POST processor on the body before
    any handler, and a body that is not a form got the connection closed without any answer;
    model-api turns form parsing off (bodies are JSON), so the handler answers 415."""
    tag = new_tag()
    rec = api.create(W, widget(tag))
    for ctype, body in (("multipart/form-data; boundary=x", b'{"name": "x"}'),
                        ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--x--\r\n"),
                        ("application/x-www-form-urlencoded", b"name=x&tag=" + tag.encode()),
                        ("application/x-www-form-urlencoded", b'{"name": "x"}')):
        for method, path in (("POST", f"/v1/{W}"), ("PATCH", f"/v1/{W}/{rec['id']}")):
            r = requests.request(method, api.url(path), data=body, timeout=15,
                                 headers={"Content-Type": ctype})
            check_json_error(r, 415, "unsupported_media_type", what=f"{method} {ctype}")
    check_eq(api.count(W, {"tag": tag}), 1, "records after the form posts")


def raw_request(api, data):
    """Sends data as is on a new connection; returns (status, body bytes) of the answer."""
    host, port = api.base.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            head, sep, body = got.partition(b"\r\n\r\n")
            length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if sep and length and len(body) >= length[0]:
                break
    head, _, body = got.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_raw_nul_in_request_line_is_400_not_truncated(api):
    """libmicrohttpd hands the URL on as a C string: a raw NUL byte in the request line used
    to cut it short, so ?name=a\\0b was served as name=a."""
    tag = new_tag()
    api.create(W, widget(tag, name="a"))
    for line, what in ((f"GET /v1/{W}/count?tag={tag}&name=a\0b", "NUL in a query value"),
                       (f"GET /v1/{W}\0/count?tag={tag}", "NUL in the path"),
                       (f"GET /v1/{W}/count\0?tag={tag}&name=zzz", "NUL before the query")):
        status, body = raw_request(api, line.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        check_eq(status, 400, f"{what}: status (body {body[:200]!r})")
        check_eq(json.loads(body)["error"]["code"], "bad_query", f"{what}: error code")
    payload = json.dumps(widget(tag, name="nul")).encode()
    status, body = raw_request(api, f"POST /v1/{W}\0x HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                    f"application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
    check_eq(status, 400, f"POST with a NUL in the path: status (body {body[:200]!r})")
    check_eq(api.count(W, {"tag": tag}), 1, "records after the refused POST")
    # The same requests without the NUL are served.
    status, body = raw_request(api, f"GET /v1/{W}/count?tag={tag}&name=a HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    check_eq((status, json.loads(body)), (200, {"count": 1}), "the request without the NUL")


def test_nul_in_model_path_segment_is_refused(api):
    """/v1/Widget%00 must not serve Widget (the segment would be truncated at the NUL)."""
    for path in (f"/v1/{W}%00", f"/v1/{W}%00/count", f"/v1/{W}%00garbage"):
        check_json_error(api.get(path), (400, 404), what=f"GET {path}")


def test_very_long_query_string_gets_a_json_error(api):
    r = api.get(f"/v1/{W}?name=" + "a" * 70000)
    check_json_error(r, range(400, 500), what="70 kB query string")
    check_eq(api.get("/healthz").status_code, 200, "/healthz after a 70 kB query string")


def test_impossible_date_gets_attribute_details(api):
    r = api.request("POST", f"/v1/{W}", json={"name": "x", "due_at": "2026-02-30T00:00:00Z"})
    err = check_json_error(r, 422, "invalid")
    assert "due_at" in (err.get("details") or {}), f"422 without details for due_at: {err!r}"


# ----------------------------------------------------------------------------------- CORS

ALLOWED = "https://app.example.com"


@pytest.fixture(scope="module")
def cors_urls(models_stack):
    """Two more model-api instances on the module's database: one allowing two exact
    origins, one allowing any ("*")."""
    procs, urls = [], {}
    try:
        for key, origins in (("exact", f"{ALLOWED}, http://localhost:3000"), ("any", "*")):
            proc, url = start_second_model_api(models_stack, {"MC_CORS_ORIGINS": origins},
                                               name=f"model-api-cors-{key}")
            procs.append(proc)
            wait_ready(url)
            urls[key] = url
        yield urls
    finally:
        for proc in procs:
            stop_process(proc)


def cors_headers(r):
    return {k: v for k, v in r.headers.items() if k.lower().startswith("access-control-") or k == "Vary"}


def test_cors_allowed_origin_preflight_and_answers(cors_urls):
    url = cors_urls["exact"]
    tag = new_tag()
    pre = requests.options(f"{url}/v1/{W}/1", timeout=15, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, if-match"})
    print("preflight, allowed origin:", pre.status_code, cors_headers(pre))
    check_eq(pre.status_code, 204, "preflight from an allowed origin")
    check_eq(pre.headers.get("Access-Control-Allow-Origin"), ALLOWED, "Allow-Origin")
    check_eq(pre.headers.get("Access-Control-Allow-Methods"), "GET, PATCH, DELETE", "Allow-Methods")
    allowed_headers = {h.strip().lower() for h in pre.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert {"authorization", "content-type", "if-match"} <= allowed_headers, cors_headers(pre)
    assert int(pre.headers.get("Access-Control-Max-Age", "0")) > 0, cors_headers(pre)
    check_eq(pre.headers.get("Vary"), "Origin", "Vary of the preflight")
    assert "Access-Control-Allow-Credentials" not in pre.headers, cors_headers(pre)
    # The actual requests: the origin, and the headers scripts may read.
    r = requests.post(f"{url}/v1/{W}", json=widget(tag), headers={"Origin": ALLOWED}, timeout=15)
    print("POST, allowed origin:", r.status_code, cors_headers(r), "ETag", r.headers.get("ETag"))
    check_eq(r.status_code, 201, f"POST (body {r.text!r})")
    check_eq(r.headers.get("Access-Control-Allow-Origin"), ALLOWED, "Allow-Origin of the POST")
    exposed = {h.strip().lower() for h in r.headers.get("Access-Control-Expose-Headers", "").split(",")}
    assert {"etag", "location"} <= exposed, cors_headers(r)
    check_eq(r.headers.get("ETag"), '"1"', "ETag of a created record")
    rec = r.json()
    r = requests.patch(f"{url}/v1/{W}/{rec['id']}", json={"qty": 2}, timeout=15,
                       headers={"Origin": ALLOWED, "If-Match": r.headers["ETag"]})
    check_eq((r.status_code, r.headers.get("ETag")), (200, '"2"'), "PATCH with If-Match: the ETag")
    r = requests.get(f"{url}/v1/{W}/{rec['id']}", headers={"Origin": ALLOWED}, timeout=15)
    check_eq((r.headers.get("Access-Control-Allow-Origin"), r.headers.get("ETag")), (ALLOWED, '"2"'), "GET")
    # Errors carry them too, so a script can read the error body.
    r = requests.get(f"{url}/v1/Nope", headers={"Origin": ALLOWED}, timeout=15)
    check_eq((r.status_code, r.headers.get("Access-Control-Allow-Origin")), (404, ALLOWED), "404 to a script")


def test_cors_refused_origin_gets_no_cors_headers(cors_urls, api):
    url = cors_urls["exact"]
    evil = "https://evil.example"
    pre = requests.options(f"{url}/v1/{W}", timeout=15, headers={
        "Origin": evil, "Access-Control-Request-Method": "POST"})
    print("preflight, refused origin:", pre.status_code, cors_headers(pre), pre.text)
    check_json_error(pre, 403, "origin_not_allowed", what="preflight from a refused origin")
    assert not [k for k in pre.headers if k.lower().startswith("access-control-")], cors_headers(pre)
    r = requests.get(f"{url}/v1/{W}", headers={"Origin": evil}, timeout=15)
    print("GET, refused origin:", r.status_code, cors_headers(r))
    assert not [k for k in r.headers if k.lower().startswith("access-control-")], cors_headers(r)
    check_eq(r.headers.get("Vary"), "Origin", "Vary on an answer that depends on the origin")
    for spelled in ("https://APP.example.com", ALLOWED + "/", "http://app.example.com"):
        r = requests.get(f"{url}/healthz", headers={"Origin": spelled}, timeout=15)
        check_eq(r.headers.get("Access-Control-Allow-Origin"), None, f"Origin {spelled!r} (not exact)")
    # The default (MC_CORS_ORIGINS unset): no origin at all.
    pre = requests.options(api.url(f"/v1/{W}"), timeout=15, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    check_json_error(pre, 403, "origin_not_allowed", what="preflight without MC_CORS_ORIGINS")
    r = api.get(f"/v1/{W}", headers={"Origin": ALLOWED})
    assert not [k for k in r.headers if k.lower().startswith("access-control-") or k == "Vary"], r.headers


def test_cors_any_origin_never_with_credentials(cors_urls):
    url = cors_urls["any"]
    pre = requests.options(f"{url}/v1/{W}", timeout=15, headers={
        "Origin": "https://anyone.example", "Access-Control-Request-Method": "POST"})
    print("preflight, MC_CORS_ORIGINS=*:", pre.status_code, cors_headers(pre))
    check_eq((pre.status_code, pre.headers.get("Access-Control-Allow-Origin")), (204, "*"), "preflight")
    check_eq(pre.headers.get("Access-Control-Allow-Methods"), "GET, POST", "Allow-Methods on /v1/{Model}")
    r = requests.get(f"{url}/v1/{W}", headers={"Origin": "https://anyone.example"}, timeout=15)
    check_eq(r.headers.get("Access-Control-Allow-Origin"), "*", "Allow-Origin")
    assert "Access-Control-Allow-Credentials" not in r.headers and "Vary" not in r.headers, cors_headers(r)
    # A plain OPTIONS (no preflight) says what the path takes.
    r = requests.options(f"{url}/v1/{W}/count", timeout=15)
    check_eq((r.status_code, r.headers.get("Allow")), (204, "GET, OPTIONS"), "plain OPTIONS")
    check_json_error(requests.options(f"{url}/nowhere", timeout=15), 404, "not_found", what="OPTIONS /nowhere")


def test_cors_setting_is_checked_at_start(models_stack):
    exe = os.readlink(f"/proc/{models_stack.pid('model-api')}/exe")
    for value, named in (("https://app.example.com/", "'https://app.example.com/'"),
                         ("app.example.com", "'app.example.com'"), ("null", "'null'"),
                         ("*, https://a.example", "'*'")):
        proc = subprocess.run([exe], env={"MC_CORS_ORIGINS": value, "PATH": os.environ["PATH"]},
                              capture_output=True, text=True, timeout=30)
        check_eq(proc.returncode, 2, f"exit status with MC_CORS_ORIGINS={value!r} ({proc.stderr!r})")
        assert "MC_CORS_ORIGINS" in proc.stderr and named in proc.stderr, proc.stderr


# ---------------------------------------------------------------------- order of strings

# Strings whose order differs between en-US and byte (code point) order: C puts "B" and
# "Z" before "_x" and "a", and "é" after "z"; en-US interleaves cases and skips "_".
WORDS = ["a", "B", "b", "Z", "z", "_x", "é", "a b", "ab", "A"]
OLD_WIDGETS = (  # widgets as model-api created it before strings were declared COLLATE "C"
    "CREATE TABLE widgets (id bigserial PRIMARY KEY, version bigint NOT NULL DEFAULT 1, "
    "created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), "
    "name varchar(20) NOT NULL, notes text, qty integer, big bigint, price double precision, "
    "active boolean, due_at timestamptz, meta jsonb, author_id bigint, color varchar(10), "
    "level integer, sku varchar(40), tag varchar(40))")


def psql_admin(stack, sql, db="postgres"):
    """psql as the postgres superuser (the local stack trusts loopback)."""
    conninfo = stack.pg_conninfo.replace("dbname=modelcast", f"dbname={db}").replace(
        "user=modelcast", "user=postgres")
    proc = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", conninfo, "-c", sql],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"psql {sql!r}: {proc.stderr}"
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def en_us_apis(models_stack):
    """Two model-apis on databases whose collation is ICU's en-US: one whose tables it
    creates itself, one whose widgets table predates COLLATE "C" (created by the old DDL)."""
    procs, urls = [], {}
    try:
        for key in ("new", "old"):
            db = f"collation_{key}"
            psql_admin(models_stack, f"DROP DATABASE IF EXISTS {db}")
            psql_admin(models_stack, f"CREATE DATABASE {db} OWNER modelcast TEMPLATE template0 "
                                     "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
            if key == "old":
                psql_admin(models_stack, f"SET ROLE modelcast; {OLD_WIDGETS}", db)
            conninfo = models_stack.pg_conninfo.replace("dbname=modelcast", f"dbname={db}")
            proc, url = start_second_model_api(models_stack, {"MC_PG_CONNINFO": conninfo},
                                               name=f"model-api-{db}")
            procs.append(proc)
            wait_ready(url)
            urls[key] = (url, db)
        yield urls
    finally:
        for proc in procs:
            stop_process(proc)


@pytest.mark.parametrize("key", ["new", "old"])
def test_strings_order_by_code_point_whatever_the_collation(models_stack, en_us_apis, key):
    url, db = en_us_apis[key]
    # The test means something: this database orders these words otherwise.
    words_sql = ",".join("'" + w.replace("'", "''") + "'" for w in WORDS)
    db_order = psql_admin(models_stack, f"SELECT string_agg(w, '|' ORDER BY w) FROM unnest(ARRAY[{words_sql}]) w", db)
    assert db_order.split("|") != sorted(WORDS), f"{db} orders like C: {db_order}"
    collation = psql_admin(models_stack, "SELECT collname FROM pg_attribute a JOIN pg_collation c "
                           "ON c.oid = a.attcollation WHERE attrelid = 'widgets'::regclass AND attname = 'name'", db)
    check_eq(collation, "C" if key == "new" else "default", "the name column's collation")
    api = Api(url)
    tag = new_tag()
    recs = [api.create(W, widget(tag, name=w, qty=1)) for w in WORDS]
    by_name = sorted(recs, key=lambda r: (r["name"], r["id"]))  # Python: code point order
    check_eq([r["name"] for r in api.list(W, {"tag": tag, "order": "name"})["data"]],
             [r["name"] for r in by_name], "order=name")
    check_eq([r["name"] for r in api.list(W, {"tag": tag, "order": "-name"})["data"]],
             [r["name"] for r in reversed(by_name)], "order=-name")
    # Keyset pages agree with that order: none repeated, none skipped.
    for spec, want in (("name", by_name), ("-name", list(reversed(by_name)))):
        cursor, seen = None, []
        for _ in range(len(WORDS)):
            p = {"tag": tag, "order": spec, "limit": 3}
            if cursor:
                p["cursor"] = cursor
            body = api.list(W, p)
            seen.extend(r["name"] for r in body["data"])
            cursor = body["next_cursor"]
            if not cursor:
                break
        check_eq(seen, [r["name"] for r in want], f"pages of 3, order={spec}")
    # Range filters compare the same way (the condition language's byte order).
    check_eq(sorted(r["name"] for r in api.list(W, {"tag": tag, "name[gt]": "Z"})["data"]),
             sorted(w for w in WORDS if w > "Z"), "name[gt]=Z")
