"""GET /v1/channels on model-api (the answer authz gives, with CORS for browsers), the
instance channel classes a caller may join for any id (any_instance), and what GET
/v1/models tells a client: the scopes it may use with their conditions, and any_instance
per model. Against the session stack (config/policies.json) and a second model-api on the
same database whose policies let admins join every Team (policies_admin.json) and whose
models have a Todo scope over a withheld attribute (models_admin.json)."""

import json
from pathlib import Path

import pytest
import requests

import tokens
from mc_testlib import check_eq, check_json_error, start_second_model_api, stop_process, wait_ready

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ORIGIN = "https://app.example.com"

CALLERS = {
    "anonymous": lambda: None,
    "alice": lambda: tokens.user(7, teams=[3]),
    "bob": lambda: tokens.user(8, teams=[3]),
    "carol": lambda: tokens.user(9),
    "admin": lambda: tokens.user(1, role="admin"),
}


def get(url, token=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(url, headers=headers, timeout=15)


@pytest.fixture(scope="module")
def admin_api(stack):
    """A second model-api: admins join every Team; Todo has the scopes open and noted."""
    proc, url = start_second_model_api(stack, {
        "MC_POLICIES": str(HERE / "policies_admin.json"), "MC_MODELS": str(HERE / "models_admin.json"),
        "MC_CORS_ORIGINS": ORIGIN}, name="model-api-admin")
    try:
        wait_ready(url)
        yield url
    finally:
        stop_process(proc)


def test_model_api_answers_channels_as_authz_does(stack):
    for who, token in CALLERS.items():
        t = token()
        mine = get(f"{stack.api_url}/v1/channels", t)
        theirs = get(f"{stack.authz_url}/v1/channels", t)
        check_eq((mine.status_code, theirs.status_code), (200, 200), f"{who}: statuses ({mine.text})")
        check_eq(mine.json(), theirs.json(), f"{who}: model-api's answer = authz's")
        # The shipped policies admit no instance channel wholesale.
        check_eq(mine.json()["any_instance"], [], f"{who}: any_instance")
    check_eq(get(f"{stack.api_url}/v1/channels", CALLERS["alice"]()).json(),
             {"channels": ["Application", "User-7", "Team-3"], "any_instance": []}, "Alice's channels")
    for reason, bad in tokens.BAD_TOKENS.items():
        err = check_json_error(get(f"{stack.api_url}/v1/channels", bad()), 401, "invalid_token",
                               what=f"a {reason} token")
        check_eq(err["details"]["reason"], reason, "details.reason")
    r = requests.post(f"{stack.api_url}/v1/channels", json={}, timeout=15)
    check_json_error(r, 405, "method_not_allowed", what="POST /v1/channels")
    check_eq(r.headers.get("Allow"), "GET", "Allow")


def test_any_instance_names_the_classes_admitted_wholesale(admin_api):
    admin = CALLERS["admin"]()
    body = get(f"{admin_api}/v1/channels", admin).json()
    check_eq(body, {"channels": ["Application", "Admins", "User-1"], "any_instance": ["Team"]},
             "an admin's channels")
    models = {m["name"]: m for m in get(f"{admin_api}/v1/models", admin).json()["models"]}
    check_eq((models["Todo"]["any_instance"], models["Dictionary"]["any_instance"]), (["Team"], []),
             "any_instance per model: Todo reaches admins through every Team, Dictionary does not")
    for who in ("alice", "anonymous"):
        body = get(f"{admin_api}/v1/channels", CALLERS[who]()).json()
        check_eq(body["any_instance"], [], f"{who}: any_instance")
    # What any_instance promises: the admin reads a team's todos without being on it.
    alice = CALLERS["alice"]()
    r = requests.post(f"{admin_api}/v1/Todo", timeout=15, headers={"Authorization": f"Bearer {alice}"},
                      json={"title": "team 3's", "owner_id": 7, "team_id": 3, "notes": "hers"})
    check_eq(r.status_code, 201, f"Alice creates a team todo ({r.text})")
    seen = get(f"{admin_api}/v1/Todo/{r.json()['id']}", admin)
    check_eq(seen.status_code, 200, f"the admin reads it ({seen.text})")
    assert "notes" not in seen.json(), seen.json()
    # Browsers on an allowed origin read it with CORS.
    r = get(f"{admin_api}/v1/channels", admin, Origin=ORIGIN)
    check_eq(r.headers.get("Access-Control-Allow-Origin"), ORIGIN, "GET /v1/channels: Allow-Origin")


def test_models_give_the_conditions_of_usable_scopes_only(stack, admin_api):
    shipped = json.loads((REPO / "config/models.json").read_text())["models"]
    dictionary = {m["name"]: m for m in get(f"{stack.api_url}/v1/models").json()["models"]}["Dictionary"]
    check_eq((dictionary["scopes"], dictionary["scope_conditions"]),
             (["defined"], shipped["Dictionary"]["scopes"]), "Dictionary: scopes and conditions")
    conds = json.loads((HERE / "models_admin.json").read_text())["models"]["Todo"]["scopes"]
    owner = {m["name"]: m for m in get(f"{admin_api}/v1/models", CALLERS["alice"]()).json()["models"]}
    check_eq((owner["Todo"]["scopes"], owner["Todo"]["scope_conditions"]), (["open", "noted"], conds),
             "Todo for an owner (sees notes through User-7)")
    # A teammate without a User channel is never shown notes: a scope over notes does not
    # exist for it, here as in a list (no name, no condition to probe it with).
    mate = tokens.make({"teams": [3]})
    todo = {m["name"]: m for m in get(f"{admin_api}/v1/models", mate).json()["models"]}["Todo"]
    assert "notes" not in todo["attributes"], todo
    check_eq((todo["scopes"], todo["scope_conditions"]), (["open"], {"open": conds["open"]}),
             "Todo for a teammate")
    r = requests.get(f"{admin_api}/v1/Todo", params={"scope": "noted"}, timeout=15,
                     headers={"Authorization": f"Bearer {mate}"})
    check_json_error(r, 400, "bad_query", what="?scope=noted for the teammate")
