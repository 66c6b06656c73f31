"""Walking skeleton: one Dictionary record goes REST (or SQL) -> PostgreSQL outbox -> Kafka
modelcast.changes -> authz -> modelcast.deliveries -> pusher -> WebSocket client.

Contracts from DESIGN.md; every wait has a deadline, no fixed sleeps.
"""

import json
import re
import time
import uuid

import pytest
import requests
from confluent_kafka import Consumer, KafkaException
from websockets.sync.client import connect as ws_connect

MODEL = "Dictionary"
TABLE = MODEL.lower()
CHANNEL = "Application"
ATTRS = ("word", "definition", "pronunciation")
DEADLINE_S = 30
HTTP_TIMEOUT = 10
POSITION_RE = re.compile(r"^\d+:\d+$")


# ------------------------------------------------------------------------------- helpers

def check_eq(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def new_word_fields():
    tag = uuid.uuid4().hex[:10]
    return {
        "word": f"word-{tag}",
        "definition": f"definition of {tag}",
        "pronunciation": f"/{tag}/",
    }


def post_record(stack, fields):
    r = requests.post(f"{stack.api_url}/v1/{MODEL}", json=fields, timeout=HTTP_TIMEOUT)
    check_eq(r.status_code, 201, f"POST /v1/{MODEL} status (body {r.text!r})")
    rec = r.json()
    return rec


def check_record(rec, fields, version=1):
    assert isinstance(rec, dict), f"record: expected a JSON object, got {rec!r}"
    missing = {"id", "version", "created_at", "updated_at", *ATTRS} - rec.keys()
    assert not missing, f"record lacks {sorted(missing)}: {rec!r}"
    assert isinstance(rec["id"], int) and not isinstance(rec["id"], bool), f"record id: expected int, got {rec['id']!r}"
    check_eq(rec["version"], version, "record version")
    for k in ATTRS:
        check_eq(rec[k], fields[k], f"record[{k!r}]")


def check_json_error(r, statuses, code=None):
    assert r.status_code in statuses, f"status: expected one of {sorted(statuses)}, got {r.status_code} (body {r.text!r})"
    ctype = r.headers.get("Content-Type", "")
    assert "json" in ctype, f"error Content-Type: expected JSON, got {ctype!r}"
    try:
        body = r.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {r.text!r}")
    err = body.get("error") if isinstance(body, dict) else None
    assert isinstance(err, dict), f"error body: expected {{'error': {{...}}}}, got {body!r}"
    assert isinstance(err.get("code"), str) and err["code"], f"error.code: expected a non-empty string, got {err.get('code')!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"error.message: expected a non-empty string, got {err.get('message')!r}"
    if code is not None:
        check_eq(err["code"], code, "error.code")
    return err


def psql_insert(stack, fields):
    out = stack.psql(
        f"INSERT INTO {TABLE} (word, definition, pronunciation) "
        f"VALUES ('{fields['word']}', '{fields['definition']}', '{fields['pronunciation']}') RETURNING id"
    )
    return int(out.strip())


# --- WebSocket

@pytest.fixture
def ws(stack):
    """A WebSocket client subscribed to the Application channel."""
    with ws_connect(stack.pusher_ws_url, open_timeout=10, close_timeout=5) as conn:
        conn.send(json.dumps({"type": "subscribe", "channel": CHANNEL}))
        frame = next_frame(conn, lambda f: f.get("type") in ("subscribed", "error"), "a 'subscribed' frame", 10)
        check_eq(frame.get("type"), "subscribed", f"answer to subscribe ({frame!r})")
        check_eq(frame.get("channel"), CHANNEL, "subscribed channel")
        assert "position" in frame, f"subscribed frame lacks 'position': {frame!r}"
        yield conn


def next_frame(conn, match, what, deadline_s=DEADLINE_S):
    """Reads JSON frames until match(frame) holds; fails after deadline_s, listing what came."""
    deadline = time.monotonic() + deadline_s
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {what} within {deadline_s}s; frames received: {seen!r}")
        try:
            raw = conn.recv(timeout=left)
        except TimeoutError:
            continue
        frame = json.loads(raw)
        if match(frame):
            return frame
        seen.append(frame)


def change_frame(conn, rec_id, op, version=None):
    return next_frame(
        conn,
        lambda f: f.get("type") == "change" and f.get("model") == MODEL and f.get("id") == rec_id
        and f.get("op") == op and (version is None or f.get("version") == version),
        f"'change' frame for {MODEL} {rec_id} op={op} version={version}",
    )


def check_change_frame(frame, rec_id, op, version, fields):
    check_eq(frame.get("channel"), CHANNEL, "frame channel")
    check_eq(frame.get("id"), rec_id, "frame id")
    check_eq(frame.get("op"), op, "frame op")
    check_eq(frame.get("version"), version, "frame version")
    attrs = frame.get("attributes")
    assert isinstance(attrs, dict), f"frame attributes: expected an object, got {attrs!r}"
    for k, v in fields.items():
        check_eq(attrs.get(k), v, f"frame attributes[{k!r}]")
    assert isinstance(frame.get("changed"), list), f"frame changed: expected a list, got {frame.get('changed')!r}"
    assert isinstance(frame.get("event_id"), str) and frame["event_id"], f"frame event_id: got {frame.get('event_id')!r}"
    pos = frame.get("position")
    assert isinstance(pos, str) and POSITION_RE.match(pos), f"frame position: expected 'partition:offset', got {pos!r}"


# --- Kafka

def consume(stack, topic, match, what, deadline_s=DEADLINE_S):
    """Reads topic from the start with a fresh group until match(msg) holds; returns msg."""
    c = Consumer({
        "bootstrap.servers": stack.kafka_bootstrap,
        "group.id": f"mc-test-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
    })
    seen = 0
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().fatal():
                    raise KafkaException(msg.error())
                continue
            seen += 1
            if match(msg):
                return msg
    finally:
        c.close()
    pytest.fail(f"no {what} on {topic} within {deadline_s}s ({seen} other messages read)")


def headers_of(msg):
    return {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}


def change_event(stack, rec_id, op="create"):
    key = f"{MODEL}:{rec_id}".encode()
    return consume(
        stack, "modelcast.changes",
        lambda m: m.key() == key and json.loads(m.value()).get("op") == op,
        f"change event key={key.decode()} op={op}",
    )


# --------------------------------------------------------------------------------- tests

def test_post_reaches_subscribed_websocket_client(stack, ws):
    fields = new_word_fields()
    rec = post_record(stack, fields)
    check_record(rec, fields)
    frame = change_frame(ws, rec["id"], "create")
    check_change_frame(frame, rec["id"], "create", 1, fields)


def test_rest_get_by_id_and_list(stack):
    fields = new_word_fields()
    rec = post_record(stack, fields)
    r = requests.get(f"{stack.api_url}/v1/{MODEL}/{rec['id']}", timeout=HTTP_TIMEOUT)
    check_eq(r.status_code, 200, f"GET by id status (body {r.text!r})")
    check_eq(r.json(), rec, "GET by id body vs POST body")
    r = requests.get(f"{stack.api_url}/v1/{MODEL}", timeout=HTTP_TIMEOUT)
    check_eq(r.status_code, 200, f"GET list status (body {r.text!r})")
    body = r.json()
    assert isinstance(body.get("data"), list), f"list body: expected 'data' list, got {body!r}"
    assert "next_cursor" in body, f"list body lacks 'next_cursor': {body!r}"
    nc = body["next_cursor"]
    assert nc is None or isinstance(nc, str), f"next_cursor: expected null or string, got {nc!r}"
    for item in body["data"]:
        assert isinstance(item, dict) and isinstance(item.get("id"), int), f"list item: {item!r}"


def test_dictionary_defined_scope_needs_definition_and_pronunciation(stack):
    """config/models.json's Dictionary scope `defined` (the README tour): words with both a
    definition and a pronunciation; /v1/models lists it."""
    tag = uuid.uuid4().hex[:10]
    kinds = {"full1": ("d", "p"), "full2": ("d", "p"), "no_pron": ("d", None),
             "no_def": (None, "p"), "bare": (None, None)}
    ids = {}
    for kind, (definition, pronunciation) in kinds.items():
        fields = {"word": f"def-{tag}-{kind}"}
        if definition:
            fields["definition"] = definition
        if pronunciation:
            fields["pronunciation"] = pronunciation
        ids[kind] = post_record(stack, fields)["id"]
    mine = {"word[gte]": f"def-{tag}-", "word[lt]": f"def-{tag}-~"}

    def get(path, params):
        r = requests.get(f"{stack.api_url}/v1/{MODEL}{path}", params=params, timeout=HTTP_TIMEOUT)
        check_eq(r.status_code, 200, f"GET /v1/{MODEL}{path} {params!r} status (body {r.text!r})")
        return r.json()

    check_eq(get("/count", {**mine, "scope": "defined"})["count"], 2, "count?scope=defined")
    listed = sorted(rec["id"] for rec in get("", {**mine, "scope": "defined"})["data"])
    check_eq(listed, sorted([ids["full1"], ids["full2"]]), "list?scope=defined ids")
    check_eq(get("/count", {**mine, "definition[null]": "false"})["count"], 3,
             "count?definition[null]=false")
    r = requests.get(f"{stack.api_url}/v1/models", timeout=HTTP_TIMEOUT)
    scopes = {m["name"]: m["scopes"] for m in r.json()["models"]}
    check_eq(scopes.get(MODEL), ["defined"], "scopes of Dictionary in /v1/models")


def test_change_event_on_kafka_has_cloudevents_headers(stack):
    fields = new_word_fields()
    rec = post_record(stack, fields)
    msg = change_event(stack, rec["id"])
    h = headers_of(msg)
    check_eq(h.get("ce_specversion"), "1.0", "ce_specversion")
    check_eq(h.get("ce_type"), "modelcast.record.created", "ce_type")
    check_eq(h.get("ce_subject"), f"{MODEL}/{rec['id']}", "ce_subject")
    check_eq(h.get("content-type"), "application/json", "content-type header")
    try:
        uuid.UUID(h.get("ce_id") or "")
    except ValueError:
        pytest.fail(f"ce_id: expected a UUID, got {h.get('ce_id')!r} (headers {h!r})")
    for k in ("ce_source", "ce_time"):
        assert h.get(k), f"header {k}: expected non-empty, got {h.get(k)!r} (headers {h!r})"

    v = json.loads(msg.value())
    check_eq(v.get("model"), MODEL, "event model")
    check_eq(v.get("id"), rec["id"], "event id")
    check_eq(v.get("op"), "create", "event op")
    check_eq(v.get("version"), 1, "event version")
    check_eq(v.get("before"), None, "event before")
    after = v.get("after")
    assert isinstance(after, dict), f"event after: expected the record, got {after!r}"
    for k in ("id", "version", *ATTRS):
        check_eq(after.get(k), rec[k], f"event after[{k!r}] vs POST body")
    changed = v.get("changed")
    assert isinstance(changed, list) and set(ATTRS) <= set(changed), f"event changed: expected to hold {list(ATTRS)}, got {changed!r}"
    assert isinstance(v.get("txid"), int), f"event txid: expected int, got {v.get('txid')!r}"
    assert isinstance(v.get("committed_at"), str) and v["committed_at"], f"event committed_at: got {v.get('committed_at')!r}"


def test_sql_insert_reaches_websocket_client(stack, ws):
    fields = new_word_fields()
    rec_id = psql_insert(stack, fields)
    frame = change_frame(ws, rec_id, "create")
    check_change_frame(frame, rec_id, "create", 1, fields)


def test_sql_update_is_pushed_as_update_version_2(stack, ws):
    fields = new_word_fields()
    rec_id = psql_insert(stack, fields)
    change_frame(ws, rec_id, "create")
    new_definition = f"updated {uuid.uuid4().hex[:8]}"
    stack.psql(f"UPDATE {TABLE} SET definition = '{new_definition}' WHERE id = {rec_id}")
    frame = change_frame(ws, rec_id, "update")
    check_change_frame(frame, rec_id, "update", 2, {**fields, "definition": new_definition})
    assert "definition" in frame["changed"], f"frame changed: expected to hold 'definition', got {frame['changed']!r}"
    assert "word" not in frame["changed"], f"frame changed: 'word' did not change, got {frame['changed']!r}"


def test_malformed_json_body_is_a_json_400(stack):
    r = requests.post(f"{stack.api_url}/v1/{MODEL}", data=b'{"word": "x", ',
                      headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
    check_json_error(r, {400}, code="bad_json")
    r = requests.post(f"{stack.api_url}/v1/{MODEL}", data=b'["not", "an", "object"]',
                      headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
    check_json_error(r, {400, 422})


def test_get_unknown_id_is_a_json_404(stack):
    r = requests.get(f"{stack.api_url}/v1/{MODEL}/987654321", timeout=HTTP_TIMEOUT)
    check_json_error(r, {404})


def test_delivery_on_kafka_carries_change_event_id(stack):
    fields = new_word_fields()
    rec = post_record(stack, fields)
    change = change_event(stack, rec["id"])
    ce_id = headers_of(change).get("ce_id")
    msg = consume(
        stack, "modelcast.deliveries",
        lambda m: json.loads(m.value()).get("event_id") == ce_id,
        f"delivery of change {ce_id} ({MODEL} {rec['id']})",
    )
    check_eq(msg.key(), CHANNEL.encode(), "delivery key")
    v = json.loads(msg.value())
    check_eq(v.get("channel"), CHANNEL, "delivery channel")
    check_eq(v.get("op"), "create", "delivery op")
    check_eq(v.get("version"), 1, "delivery version")
    check_eq(v.get("event_id"), ce_id, "delivery event_id vs change ce_id")
    attrs = v.get("attributes")
    assert isinstance(attrs, dict), f"delivery attributes: expected an object, got {attrs!r}"
    for k in ATTRS:
        check_eq(attrs.get(k), fields[k], f"delivery attributes[{k!r}]")
    assert isinstance(v.get("changed"), list), f"delivery changed: expected a list, got {v.get('changed')!r}"


def test_unknown_frame_type_gets_error_frame(stack, ws):
    ws.send(json.dumps({"type": "no-such-type"}))
    frame = next_frame(ws, lambda f: f.get("type") == "error", "'error' frame", 10)
    assert isinstance(frame.get("code"), str) and frame["code"], f"error frame code: got {frame!r}"
    assert isinstance(frame.get("message"), str) and frame["message"], f"error frame message: got {frame!r}"
