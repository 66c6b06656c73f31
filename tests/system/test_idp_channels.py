"""Channel names hold identity-provider subjects (docs/protocol.md, "Channel names"): a user
whose token's sub is "auth0|abc123" (HS256, the stack's development key) is listed
User-auth0|abc123 by GET /v1/channels on model-api and authz, subscribes to it on the pusher,
and receives the change of a record it owns, routed there by authz. Another subject is
refused that channel; a subject no channel name can hold ("jane doe") is listed nothing, and
authz and the pusher refuse its name as they refuse any non-name.

Runs a stack of its own (models_idp.json, policies_idp.json): a Note's owner is a string.
"""

import json
import time
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect as ws_connect

import tokens
from mc_testlib import HTTP_TIMEOUT, check_eq

HERE = Path(__file__).resolve().parent
SUB = "auth0|abc123"
OTHER = "google-oauth2|104573226539227163425"


@pytest.fixture(scope="module")
def idp_stack(stack_factory):
    s = stack_factory(HERE / "models_idp.json", None, HERE / "policies_idp.json")
    yield s
    s.stop()


def ws_frame(c, match, what, deadline_s=30):
    """The first frame match() accepts, read within deadline_s."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            f = json.loads(c.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        if match(f):
            return f
    pytest.fail(f"no {what} within {deadline_s}s")


def ws_answer(c, channel):
    """The subscribed or error frame answering a subscribe to channel."""
    c.send(json.dumps({"type": "subscribe", "channel": channel}))
    return ws_frame(c, lambda f: f.get("type") in ("subscribed", "error") and
                    f.get("channel", channel) == channel, f"answer to subscribe {channel}")


def channels(url, token):
    r = requests.get(f"{url}/v1/channels", headers={"Authorization": f"Bearer {token}"},
                     timeout=HTTP_TIMEOUT)
    check_eq(r.status_code, 200, f"GET {url}/v1/channels ({r.text})")
    return r.json()


def authorize(stack, token, names):
    return requests.post(f"{stack.authz_url}/v1/authorize", timeout=HTTP_TIMEOUT,
                         json={"token": token, "channels": names})


def test_subject_with_a_bar_gets_its_changes_pushed(idp_stack):
    s, me, other = idp_stack, tokens.make({"sub": SUB}), tokens.make({"sub": OTHER})
    mine = f"User-{SUB}"
    for url in (s.api_url, s.authz_url):
        check_eq(channels(url, me), {"channels": [mine], "any_instance": []}, f"{url}: channels")
    r = authorize(s, me, [mine, f"User-{OTHER}"])
    check_eq(r.status_code, 200, f"authorize ({r.text})")
    check_eq([(c["channel"], c["allow"]) for c in r.json()["channels"]],
             [(mine, True), (f"User-{OTHER}", False)], "authorize")

    with ws_connect(s.pusher_ws_url, open_timeout=10) as c, \
            ws_connect(s.pusher_ws_url, open_timeout=10) as o:
        c.send(json.dumps({"type": "auth", "token": me}))
        o.send(json.dumps({"type": "auth", "token": other}))
        f = ws_answer(c, mine)
        check_eq((f["type"], f["channel"]), ("subscribed", mine), f"subscribe {mine}: {f}")
        f = ws_answer(o, mine)
        check_eq((f["type"], f.get("code")), ("error", "forbidden"), f"{OTHER} on {mine}: {f}")

        r = requests.post(f"{s.api_url}/v1/Note", json={"title": "hello", "owner": SUB},
                          headers={"Authorization": f"Bearer {me}"}, timeout=HTTP_TIMEOUT)
        check_eq(r.status_code, 201, f"POST /v1/Note ({r.text})")
        note = r.json()
        change = ws_frame(c, lambda f: f.get("type") == "change" and f.get("model") == "Note"
                          and f.get("id") == note["id"], f"change of Note {note['id']}")
        check_eq((change["channel"], change["op"], change["attributes"]["owner"],
                  change["attributes"]["title"]), (mine, "create", SUB, "hello"), "the change")
    # reads = broadcasts: its owner reads it over REST, the other subject does not
    for token, want in ((me, [note["id"]]), (other, [])):
        r = requests.get(f"{s.api_url}/v1/Note", headers={"Authorization": f"Bearer {token}"},
                         timeout=HTTP_TIMEOUT)
        check_eq((r.status_code, [n["id"] for n in r.json()["data"]]), (200, want), "GET /v1/Note")


def test_subject_no_channel_can_hold(idp_stack):
    s, token = idp_stack, tokens.make({"sub": "jane doe"})
    for url in (s.api_url, s.authz_url):
        check_eq(channels(url, token)["channels"], [], f"{url}: channels of 'jane doe'")
    r = authorize(s, token, ["User-jane doe"])
    check_eq(r.status_code, 400, f"authorize a name with a space ({r.text})")
    with ws_connect(s.pusher_ws_url, open_timeout=10) as c:
        c.send(json.dumps({"type": "auth", "token": token}))
        f = ws_answer(c, "User-jane doe")
        check_eq((f["type"], f.get("code")), ("error", "bad_channel"), f"subscribe: {f}")
