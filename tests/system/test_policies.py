"""Policies end to end (config/policies.json on the real stack): who reads, writes and
receives which Todo attributes; refused tokens; remove deliveries; the dead-letter topic."""

import contextlib
import json
import time
import uuid

import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

import tokens

ALICE, BOB, CAROL = 7, 8, 9  # Alice and Bob share team 3; Carol is on no team


def api(stack, method, path, token=None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{stack.api_url}{path}", headers=headers, timeout=15, **kw)


def alice():
    return tokens.user(ALICE, teams=[3])


def bob():
    return tokens.user(BOB, teams=[3])


def carol():
    return tokens.user(CAROL)


@pytest.fixture
def todo(stack):
    """A Todo owned by Alice, on team 3, with private notes."""
    title = f"buy milk {uuid.uuid4().hex[:8]}"
    resp = api(stack, "POST", "/v1/Todo", alice(),
               json={"title": title, "notes": "secret", "owner_id": ALICE, "team_id": 3,
                     "private": False, "done": False})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_owner_reads_everything(stack, todo):
    got = api(stack, "GET", f"/v1/Todo/{todo['id']}", alice())
    assert got.status_code == 200, got.text
    assert got.json()["notes"] == "secret"


def test_teammate_never_sees_withheld_attributes(stack, todo):
    got = api(stack, "GET", f"/v1/Todo/{todo['id']}", bob())
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["title"] == todo["title"]
    assert "notes" not in body and "private" not in body, body
    listed = api(stack, "GET", f"/v1/Todo?title={todo['title']}", bob())
    assert listed.status_code == 200, listed.text
    rows = listed.json()["data"]
    assert [r["id"] for r in rows] == [todo["id"]], rows
    assert all("notes" not in r for r in rows), rows
    # Filtering on notes only reaches rows whose notes Bob may see: not Alice's.
    probe = api(stack, "GET", "/v1/Todo?notes=secret", bob())
    assert probe.status_code == 200, probe.text
    assert todo["id"] not in [r["id"] for r in probe.json()["data"]]
    count = api(stack, "GET", "/v1/Todo/count?notes=secret", bob())
    assert count.status_code == 200 and count.json()["count"] == 0, count.text


def test_stranger_cannot_read_count_update_or_delete(stack, todo):
    tid = todo["id"]
    assert api(stack, "GET", f"/v1/Todo/{tid}", carol()).status_code == 404
    listed = api(stack, "GET", f"/v1/Todo?id={tid}", carol())
    assert listed.status_code == 200 and listed.json()["data"] == [], listed.text
    count = api(stack, "GET", f"/v1/Todo/count?id={tid}", carol())
    assert count.json() == {"count": 0}, count.text
    upd = api(stack, "PATCH", f"/v1/Todo/{tid}", carol(), json={"done": True})
    assert upd.status_code == 404, upd.text
    assert api(stack, "DELETE", f"/v1/Todo/{tid}", carol()).status_code == 404
    # Anonymous callers see no Todo at all.
    assert api(stack, "GET", f"/v1/Todo/{tid}").status_code == 404


def test_teammate_cannot_update_or_delete(stack, todo):
    tid = todo["id"]
    upd = api(stack, "PATCH", f"/v1/Todo/{tid}", bob(), json={"done": True})
    assert upd.status_code == 403, upd.text
    assert upd.json()["error"]["code"] == "forbidden"
    assert upd.json()["error"]["details"]["reason"] == "denied"
    dele = api(stack, "DELETE", f"/v1/Todo/{tid}", bob())
    assert dele.status_code == 403, dele.text
    still = api(stack, "GET", f"/v1/Todo/{tid}", alice()).json()
    assert still["done"] is False and still["version"] == 1, still


def test_writes_follow_the_rules(stack, todo):
    # Creating a Todo for someone else, or anonymously, is refused.
    other = api(stack, "POST", "/v1/Todo", bob(), json={"title": "x", "owner_id": ALICE})
    assert other.status_code == 403, other.text
    anon = api(stack, "POST", "/v1/Todo", None, json={"title": "x", "owner_id": ALICE})
    assert anon.status_code == 401, anon.text
    assert anon.json()["error"]["details"]["reason"] == "unauthenticated"
    # The owner updates and deletes.
    upd = api(stack, "PATCH", f"/v1/Todo/{todo['id']}", alice(), json={"done": True},
              headers={"If-Match": "1"})
    assert upd.status_code == 200 and upd.json()["version"] == 2, upd.text
    assert api(stack, "DELETE", f"/v1/Todo/{todo['id']}", alice()).status_code == 204


def test_todo_team_is_one_of_the_owners_teams(stack):
    """config/policies.json sends a todo to its team: creating one in a team one is not in
    (or moving one there) would hand it to strangers, so it is refused."""
    title = f"team {uuid.uuid4().hex[:8]}"
    stranger = api(stack, "POST", "/v1/Todo", carol(),  # Carol is on no team
                   json={"title": title, "owner_id": CAROL, "team_id": 3})
    assert stranger.status_code == 403, stranger.text
    assert stranger.json()["error"]["details"]["reason"] == "denied", stranger.text
    other = api(stack, "POST", "/v1/Todo", alice(), json={"title": title, "owner_id": ALICE, "team_id": 4})
    assert other.status_code == 403, other.text
    assert api(stack, "GET", f"/v1/Todo/count?title={title}", bob()).json() == {"count": 0}
    mine = api(stack, "POST", "/v1/Todo", alice(), json={"title": title, "owner_id": ALICE, "team_id": 3})
    assert mine.status_code == 201, mine.text
    solo = api(stack, "POST", "/v1/Todo", carol(), json={"title": title, "owner_id": CAROL})
    assert solo.status_code == 201, solo.text
    assert solo.json()["team_id"] is None, solo.text
    moved = api(stack, "PATCH", f"/v1/Todo/{solo.json()['id']}", carol(), json={"team_id": 3})
    assert moved.status_code == 403, moved.text
    left = api(stack, "PATCH", f"/v1/Todo/{mine.json()['id']}", alice(), json={"team_id": None})
    assert left.status_code == 200 and left.json()["team_id"] is None, left.text


def test_models_lists_only_what_the_caller_sees(stack):
    anon = api(stack, "GET", "/v1/models").json()["models"]
    assert [m["name"] for m in anon] == ["Dictionary"], anon
    mine = {m["name"]: m for m in api(stack, "GET", "/v1/models", bob()).json()["models"]}
    assert set(mine) == {"Dictionary", "Todo"}, mine
    assert "notes" in mine["Todo"]["attributes"]  # Bob sees notes of his own todos


@pytest.mark.parametrize("reason", sorted(tokens.BAD_TOKENS))
def test_bad_tokens_are_refused_everywhere(stack, reason):
    token = tokens.BAD_TOKENS[reason]()
    rest = api(stack, "GET", "/v1/Dictionary", token)
    assert rest.status_code == 401, rest.text
    assert rest.json()["error"]["details"]["reason"] == reason, rest.text
    auth = requests.post(f"{stack.authz_url}/v1/authorize", timeout=10,
                         json={"token": token, "channels": ["Application"]})
    assert auth.status_code == 401, auth.text
    assert auth.json()["error"]["details"]["reason"] == reason, auth.text
    chans = requests.get(f"{stack.authz_url}/v1/channels", timeout=10,
                         headers={"Authorization": f"Bearer {token}"})
    assert chans.status_code == 401, chans.text


def test_authorize_and_channels(stack):
    resp = requests.post(f"{stack.authz_url}/v1/authorize", timeout=10,
                         json={"token": alice(),
                               "channels": ["Application", "User-7", "User-8", "Team-3",
                                            "Team-4", "Nowhere"]})
    assert resp.status_code == 200, resp.text
    got = {c["channel"]: (c["allow"], c.get("reason")) for c in resp.json()["channels"]}
    assert got == {"Application": (True, None), "User-7": (True, None),
                   "User-8": (False, "denied"), "Team-3": (True, None),
                   "Team-4": (False, "denied"), "Nowhere": (False, "unknown_channel")}, got
    anon = requests.post(f"{stack.authz_url}/v1/authorize", timeout=10,
                         json={"token": None, "channels": ["Application", "User-7"]}).json()
    assert [c["allow"] for c in anon["channels"]] == [True, False], anon
    chans = requests.get(f"{stack.authz_url}/v1/channels", timeout=10,
                         headers={"Authorization": f"Bearer {alice()}"})
    assert chans.status_code == 200, chans.text
    assert set(chans.json()["channels"]) >= {"Application", "User-7", "Team-3"}, chans.text
    bad = requests.post(f"{stack.authz_url}/v1/authorize", timeout=10,
                        json={"channels": "Application"})
    assert bad.status_code == 400, bad.text


def deliveries_consumer(stack):
    c = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": f"t-{uuid.uuid4()}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    return c


def collect(consumer, topic, want, deadline_s=60):
    """Reads topic until want(messages) is true; returns the messages (dicts with headers)."""
    consumer.subscribe([topic])
    seen = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        seen.append({"key": msg.key().decode() if msg.key() else None,
                     "value": msg.value(), "headers": dict(msg.headers() or [])})
        if want(seen):
            return seen
    return seen


def test_owner_change_removes_and_creates(stack, todo):
    tid = todo["id"]
    # Hand-over is not allowed over REST, so do it as another SQL writer would.
    stack.psql(f"UPDATE todo SET owner_id = {BOB} WHERE id = {tid}")
    consumer = deliveries_consumer(stack)
    try:
        def done(msgs):
            ops = {(m["key"], json.loads(m["value"])["op"]) for m in msgs
                   if json.loads(m["value"])["id"] == tid and json.loads(m["value"])["model"] == "Todo"}
            return ("User-7", "remove") in ops and ("User-8", "create") in ops
        msgs = collect(consumer, "modelcast.deliveries", done)
    finally:
        consumer.close()
    mine = [json.loads(m["value"]) for m in msgs if json.loads(m["value"])["id"] == tid
            and json.loads(m["value"])["model"] == "Todo" and json.loads(m["value"])["version"] == 2]
    by_channel = {d["channel"]: d for d in mine}
    assert by_channel.get("User-7", {}).get("op") == "remove", mine
    assert by_channel["User-7"]["attributes"] == {"id": tid}, by_channel["User-7"]
    assert by_channel.get("User-8", {}).get("op") == "create", mine
    assert by_channel["User-8"]["attributes"]["notes"] == "secret"
    team = by_channel.get("Team-3")
    assert team and team["op"] == "update" and "notes" not in team["attributes"], mine
    assert "notes" not in team["changed"], team


def test_poisoned_change_goes_to_dlq_and_the_stream_goes_on(stack):
    word_before, word_after = f"before-{uuid.uuid4().hex[:6]}", f"after-{uuid.uuid4().hex[:6]}"
    poison_id = str(uuid.uuid4())
    assert api(stack, "POST", "/v1/Dictionary", json={"word": word_before}).status_code == 201
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    producer.produce("modelcast.changes", key=b"Dictionary:0", value=b"{not json",
                     headers=[("ce_id", poison_id.encode())])
    assert producer.flush(30) == 0
    assert api(stack, "POST", "/v1/Dictionary", json={"word": word_after}).status_code == 201

    consumer = deliveries_consumer(stack)
    try:
        words = lambda msgs: {json.loads(m["value"])["attributes"].get("word") for m in msgs}
        msgs = collect(consumer, "modelcast.deliveries",
                       lambda ms: {word_before, word_after} <= words(ms))
        assert {word_before, word_after} <= words(msgs)
    finally:
        consumer.close()
    dlq = deliveries_consumer(stack)
    try:
        dead = collect(dlq, "modelcast.changes.dlq",
                       lambda ms: any(m["headers"].get("ce_id") == poison_id.encode()
                                      for m in ms) or
                       any(m["value"] == b"{not json" for m in ms))
    finally:
        dlq.close()
    poisoned = [m for m in dead if m["value"] == b"{not json"]
    assert poisoned, f"no dead letter among {len(dead)} messages"
    assert b"not JSON" in poisoned[-1]["headers"]["mc_error"], poisoned[-1]["headers"]


# ------------------------------------------------------------------------- WebSocket

from websockets.sync.client import connect as ws_connect  # noqa: E402


@contextlib.contextmanager
def ws_open(stack, token=None):
    with ws_connect(stack.pusher_ws_url, open_timeout=10) as c:
        if token is not None:
            c.send(json.dumps({"type": "auth", "token": token}))
        yield c


def ws_answer(c, channel, deadline_s=30):
    """The subscribed or error frame answering a subscribe to channel."""
    c.send(json.dumps({"type": "subscribe", "channel": channel}))
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        f = json.loads(c.recv(timeout=max(0.1, deadline - time.monotonic())))
        if f.get("type") in ("subscribed", "error") and f.get("channel", channel) == channel:
            return f
    pytest.fail(f"no answer to subscribe {channel} within {deadline_s}s")


def ws_change(c, model, rid, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        f = json.loads(c.recv(timeout=max(0.1, deadline - time.monotonic())))
        if f.get("type") == "change" and f.get("model") == model and f.get("id") == rid:
            return f
    pytest.fail(f"no change for {model} {rid} within {deadline_s}s")


def test_websocket_subscriptions_are_authorized(stack):
    with ws_open(stack, alice()) as c:
        own = ws_answer(c, f"User-{ALICE}")
        assert own["type"] == "subscribed", own
        other = ws_answer(c, f"User-{BOB}")
        assert (other["type"], other["code"]) == ("error", "forbidden"), other
        assert ws_answer(c, "Team-3")["type"] == "subscribed"
        assert ws_answer(c, "Team-4")["code"] == "forbidden"
        assert ws_answer(c, "Nowhere")["code"] == "forbidden"
    with ws_open(stack) as anon:  # no auth frame: anonymous
        assert ws_answer(anon, "Application")["type"] == "subscribed"
        assert ws_answer(anon, f"User-{ALICE}")["code"] == "forbidden"


@pytest.mark.parametrize("reason", sorted(tokens.BAD_TOKENS))
def test_bad_tokens_are_refused_on_websocket(stack, reason):
    with ws_open(stack, tokens.BAD_TOKENS[reason]()) as c:
        f = ws_answer(c, "Application")
        assert (f["type"], f["code"]) == ("error", "bad_token"), f
        assert reason in f["message"], f


def test_teammate_never_receives_withheld_attributes_over_websocket(stack):
    with ws_open(stack, alice()) as owner, ws_open(stack, bob()) as mate:
        assert ws_answer(owner, f"User-{ALICE}")["type"] == "subscribed"
        assert ws_answer(mate, "Team-3")["type"] == "subscribed"
        resp = api(stack, "POST", "/v1/Todo", alice(),
                   json={"title": "ws", "notes": "for my eyes", "owner_id": ALICE,
                         "team_id": 3})
        assert resp.status_code == 201, resp.text
        tid = resp.json()["id"]
        mine = ws_change(owner, "Todo", tid)
        assert mine["attributes"]["notes"] == "for my eyes", mine
        theirs = ws_change(mate, "Todo", tid)
        assert theirs["channel"] == "Team-3" and theirs["attributes"]["title"] == "ws", theirs
        assert "notes" not in theirs["attributes"] and "notes" not in theirs["changed"], theirs


def test_order_and_cursor_never_reveal_withheld_values(stack, todo):
    """Ordering by notes only ranks rows whose notes Bob may see, and the cursor (base64 JSON
    of the last row's order keys) only carries values Bob was shown."""
    import base64
    for i in range(2):
        assert api(stack, "POST", "/v1/Todo", bob(),
                   json={"title": f"bob {i}", "notes": f"bob-note-{i}", "owner_id": BOB,
                         "team_id": 3}).status_code == 201
    page = api(stack, "GET", "/v1/Todo?order=notes&limit=1", bob())
    assert page.status_code == 200, page.text
    body = page.json()
    assert all(r["owner_id"] == BOB for r in body["data"]), body
    cursor = body["next_cursor"]
    assert cursor, body
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    assert "secret" not in decoded, decoded
    rest = api(stack, "GET", f"/v1/Todo?order=notes&limit=100&cursor={cursor}", bob()).json()
    assert all(r["owner_id"] == BOB for r in rest["data"]), rest
    assert todo["id"] not in [r["id"] for r in body["data"] + rest["data"]]


def test_list_answers_are_the_same_bytes_with_uniform_attributes(stack):
    """An owner on no team (tokens.user(n): teams []) reads only through the owner's rule, so
    every Todo it may read shows all attributes (mc_policy_uniform_attributes): its list rows
    go out as PostgreSQL writes them, unparsed. The same owner with a team nobody uses might
    also read through the team's narrower rule, so its rows are parsed and filtered one by
    one. Both must answer the same rows with the same bytes (key order, escapes, nulls) and
    the same cursors, page after page."""
    owner = uuid.uuid4().int % 10**12 + 10**12  # no other test's subject, nor team
    plain = tokens.user(owner)
    teamed = tokens.user(owner, teams=[owner])
    texts = ["plain", 'quote " back\\slash', "ctl \x01\x1f tab\t nl\n", "ünï ☃ 😀 /slash",
             "a'b", "x" * 200, "line\u2028sep", "same"]
    for i, text in enumerate(texts):
        body = {"title": text, "owner_id": owner, "done": [True, False, None][i % 3],
                "private": [None, True, False][i % 3], "notes": [None, text, "n"][i % 3]}
        created = api(stack, "POST", "/v1/Todo", plain, json=body)
        assert created.status_code == 201, created.text
    pages = 0
    for query in (f"owner_id={owner}", f"owner_id={owner}&done=true",
                  f"owner_id={owner}&order=-title&limit=3", f"owner_id={owner}&order=notes&limit=2",
                  f"owner_id={owner}&title[in]=same,plain&limit=1"):
        path = f"/v1/Todo?{query}"
        while path:
            a, b = api(stack, "GET", path, plain), api(stack, "GET", path, teamed)
            assert a.status_code == 200 and b.status_code == 200, (a.text, b.text)
            assert a.content == b.content, (path, a.text, b.text)
            assert a.headers["Content-Type"] == b.headers["Content-Type"]
            body = a.json()
            assert all(r["owner_id"] == owner and "notes" in r for r in body["data"]), body
            pages += 1
            cursor = body["next_cursor"]
            path = f"/v1/Todo?{query}&cursor={cursor}" if cursor else None
    everything = api(stack, "GET", f"/v1/Todo?owner_id={owner}", plain).json()["data"]
    assert sorted(r["title"] for r in everything) == sorted(texts), everything
    assert pages >= 9, pages
