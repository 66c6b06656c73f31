"""Helpers shared by the system tests of the models REST API and the change stream:
HTTP calls with JSON-error checks, polling with deadlines, and a Kafka reader of
modelcast.changes that validates every event against docs/events.schema.json.

Every wait polls with a deadline; nothing sleeps a fixed time to wait for readiness.
"""

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import jsonschema
import pytest
import requests
from confluent_kafka import Consumer, KafkaException, TopicPartition

REPO = Path(__file__).resolve().parents[2]
MODELS_FILE = Path(__file__).resolve().parent / "models_rest.json"
POLICIES_FILE = Path(__file__).resolve().parent / "policies_rest.json"
EVENTS_SCHEMA_FILE = REPO / "docs" / "events.schema.json"
CHANGES_TOPIC = "modelcast.changes"
HTTP_TIMEOUT = 15
DEADLINE_S = 60
CORE = ("postgres", "kafka", "model-api")
CE_TYPES = {"create": "modelcast.record.created", "update": "modelcast.record.updated",
            "destroy": "modelcast.record.destroyed"}
RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def check_eq(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def new_tag():
    return f"t-{uuid.uuid4().hex[:16]}"


def wait_until(predicate, what, deadline_s=DEADLINE_S, interval=0.1):
    """Polls predicate() until it returns a truthy value (returned); fails after deadline_s."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not true within {deadline_s}s (last: {last!r})")
        time.sleep(interval)


# ------------------------------------------------------------------------------------ HTTP

class Api:
    """A tiny REST client for one model-api base URL."""

    def __init__(self, base_url):
        self.base = base_url
        self.session = requests.Session()

    def url(self, path):
        return self.base + path

    def request(self, method, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, self.url(path), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_raw(self, path, data, ctype="application/json", **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if ctype is not None:
            headers["Content-Type"] = ctype
        return self.request("POST", path, data=data, headers=headers, **kw)

    def create(self, model, fields, status=201):
        r = self.request("POST", f"/v1/{model}", json=fields)
        check_eq(r.status_code, status, f"POST /v1/{model} {fields!r} status (body {r.text!r})")
        return r.json()

    def patch(self, model, rec_id, fields, if_match=None, status=200):
        headers = {"If-Match": str(if_match)} if if_match is not None else {}
        r = self.request("PATCH", f"/v1/{model}/{rec_id}", json=fields, headers=headers)
        check_eq(r.status_code, status,
                 f"PATCH /v1/{model}/{rec_id} {fields!r} If-Match={if_match!r} status (body {r.text!r})")
        return r.json() if r.content else None

    def delete(self, model, rec_id, if_match=None, status=204):
        headers = {"If-Match": str(if_match)} if if_match is not None else {}
        r = self.request("DELETE", f"/v1/{model}/{rec_id}", headers=headers)
        check_eq(r.status_code, status, f"DELETE /v1/{model}/{rec_id} status (body {r.text!r})")
        return r

    def list(self, model, params=None, status=200):
        r = self.get(f"/v1/{model}", params=params)
        check_eq(r.status_code, status, f"GET /v1/{model} {params!r} status (body {r.text!r})")
        return r.json()

    def list_ids(self, model, params):
        body = self.list(model, params)
        return [rec["id"] for rec in body["data"]]

    def count(self, model, params=None):
        r = self.get(f"/v1/{model}/count", params=params)
        check_eq(r.status_code, 200, f"GET /v1/{model}/count {params!r} status (body {r.text!r})")
        return r.json()["count"]


def check_json_error(r, statuses, code=None, what=""):
    """Asserts r is a JSON error {"error": {"code", "message", ...}} with one of statuses."""
    statuses = {statuses} if isinstance(statuses, int) else set(statuses)
    where = f"{what}: " if what else ""
    assert r.status_code in statuses, (
        f"{where}status: expected one of {sorted(statuses)}, got {r.status_code} (body {r.text[:500]!r})")
    ctype = r.headers.get("Content-Type", "")
    assert "application/json" in ctype, f"{where}error Content-Type: expected JSON, got {ctype!r} (body {r.text[:200]!r})"
    try:
        body = r.json()
    except ValueError:
        pytest.fail(f"{where}error body is not JSON: {r.text[:500]!r}")
    err = body.get("error") if isinstance(body, dict) else None
    assert isinstance(err, dict), f"{where}error body: expected {{'error': {{...}}}}, got {body!r}"
    assert isinstance(err.get("code"), str) and err["code"], f"{where}error.code: got {err.get('code')!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"{where}error.message: got {err.get('message')!r}"
    if code is not None:
        check_eq(err["code"], code, f"{where}error.code")
    return err


def start_second_model_api(stack, extra_env=None, name="model-api-2"):
    """Starts another model-api on the same database and Kafka: the environment of the
    running one (plus extra_env), with its own port and log ($MC_VAR/log/NAME.log). Returns
    (Popen, base URL); stop it with stop_process()."""
    from conftest import free_ports
    pid1 = stack.pid("model-api")
    assert pid1, "model-api is not running"
    with open(f"/proc/{pid1}/environ", "rb") as f:
        env = dict(item.decode().split("=", 1) for item in f.read().split(b"\0") if b"=" in item)
    exe = os.readlink(f"/proc/{pid1}/exe")
    port = free_ports(1)[0]
    env["MC_HTTP_PORT"] = str(port)
    env.update(extra_env or {})
    stack.extra_logs.append(name)
    log = open(stack.log_path(name), "ab")
    proc = subprocess.Popen([exe], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log.close()
    return proc, f"http://127.0.0.1:{port}"


def stop_process(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def metric_value(api_url, name):
    """The value of an unlabelled metric in /metrics, or None when absent / unreachable."""
    try:
        r = requests.get(api_url + "/metrics", timeout=5)
    except requests.RequestException:
        return None
    if r.status_code != 200:
        return None
    for line in r.text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    return None


def wait_ready(api_url, deadline_s=DEADLINE_S):
    def ready():
        try:
            return requests.get(api_url + "/readyz", timeout=3).status_code == 200
        except requests.RequestException:
            return False
    wait_until(ready, f"{api_url}/readyz answers 200", deadline_s)


# ----------------------------------------------------------------------------- events

_validator = None


def events_validator():
    global _validator
    if _validator is None:
        schema = json.loads(EVENTS_SCHEMA_FILE.read_text())
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return _validator


def headers_of(msg):
    return {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}


class Event:
    """One message of modelcast.changes, checked against docs/events.md on construction."""

    def __init__(self, msg):
        self.partition, self.offset = msg.partition(), msg.offset()
        self.key = msg.key().decode() if msg.key() is not None else None
        self.headers = headers_of(msg)
        self.raw = msg.value()
        self.value = json.loads(self.raw)
        self.ce_id = self.headers.get("ce_id")

    def check(self):
        """Validates the value against docs/events.schema.json and the headers/key against
        docs/events.md; raises AssertionError naming what is wrong."""
        v, h = self.value, self.headers
        errors = sorted(events_validator().iter_errors(v), key=lambda e: list(e.path))
        assert not errors, (
            f"event {self.key} @{self.partition}:{self.offset} does not match docs/events.schema.json: "
            + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5]) + f"\nvalue: {v!r}")
        where = f"event {self.key} @{self.partition}:{self.offset}"
        check_eq(self.key, f"{v['model']}:{v['id']}", f"{where}: key")
        check_eq(h.get("ce_specversion"), "1.0", f"{where}: ce_specversion")
        check_eq(h.get("ce_type"), CE_TYPES[v["op"]], f"{where}: ce_type")
        check_eq(h.get("ce_subject"), f"{v['model']}/{v['id']}", f"{where}: ce_subject")
        check_eq(h.get("content-type"), "application/json", f"{where}: content-type")
        check_eq(h.get("ce_source"), "/modelcast/model-api", f"{where}: ce_source")
        try:
            uuid.UUID(self.ce_id or "")
        except ValueError:
            pytest.fail(f"{where}: ce_id is not a UUID: {self.ce_id!r}")
        assert RFC3339_RE.match(h.get("ce_time") or ""), f"{where}: ce_time not RFC 3339: {h.get('ce_time')!r}"
        check_eq(h.get("ce_time"), v["committed_at"], f"{where}: ce_time vs committed_at")
        for side in ("before", "after"):
            rec = v[side]
            if rec is not None:
                check_eq(rec.get("id"), v["id"], f"{where}: {side}.id")
        if v["op"] != "destroy":
            check_eq(v["after"]["version"], v["version"], f"{where}: after.version")
        else:
            check_eq(v["before"]["version"], v["version"], f"{where}: before.version")
        if v["op"] == "update":
            check_eq(v["before"]["version"] + 1, v["version"], f"{where}: update version vs before.version")
        return self

    def __repr__(self):
        return f"Event({self.key} v{self.value.get('version')} {self.value.get('op')} @{self.partition}:{self.offset} ce_id={self.ce_id})"


class ChangeReader:
    """Reads modelcast.changes from the beginning (fresh group, read_committed) and keeps every
    event it has read, validated. config: more consumer properties (e.g. log_level). Call
    close() (or use as a context manager)."""

    def __init__(self, bootstrap, topic=CHANGES_TOPIC, config=None):
        self.topic = topic
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"mc-test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            **(config or {}),
        })
        self.consumer.subscribe([topic])
        self.events = []
        self.by_ce_id = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None

    def poll(self, timeout=0.5):
        """Reads what is available within timeout; returns the new events."""
        new = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            msg = self.consumer.poll(max(left, 0))
            if msg is None:
                break
            if msg.error():
                if msg.error().fatal():
                    raise KafkaException(msg.error())
                continue
            ev = Event(msg).check()
            self.events.append(ev)
            self.by_ce_id.setdefault(ev.ce_id, ev)
            new.append(ev)
            if left <= 0:
                break
        return new

    def read_until(self, done, what, deadline_s=DEADLINE_S):
        """Polls until done(self) is true; fails after deadline_s with what was read."""
        deadline = time.monotonic() + deadline_s
        while not done(self):
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not reached within {deadline_s}s on {self.topic} "
                            f"({len(self.events)} events read, {len(self.by_ce_id)} distinct ce_id)")
            self.poll(0.5)

    def read_to_end(self, deadline_s=DEADLINE_S):
        """Reads up to the high watermarks of every partition as they are now."""
        md = self.consumer.list_topics(self.topic, timeout=10)
        ends = {}
        for p in md.topics[self.topic].partitions:
            lo, hi = self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            ends[p] = hi

        def reached(_):
            got = {}
            for ev in self.events:
                got[ev.partition] = max(got.get(ev.partition, -1), ev.offset)
            return all(hi == 0 or got.get(p, -1) >= hi - 1 for p, hi in ends.items())
        self.read_until(reached, f"read {self.topic} to offsets {ends}", deadline_s)

    def distinct(self, keys=None):
        """First occurrence of every ce_id (in read order), optionally only for keys."""
        return [ev for ev in self.by_ce_id.values() if keys is None or ev.key in keys]


def check_per_record_order(events):
    """Per key, the first occurrences of the ce_ids come in commit order: (version, destroy?)
    strictly increases (a destroy carries the last version). One key lives in one partition,
    so partition offset order is the order a consumer sees."""
    last = {}
    for ev in sorted(events, key=lambda e: (e.partition, e.offset)):
        pos = (ev.value["version"], ev.value["op"] == "destroy")
        prev = last.get(ev.key)
        assert prev is None or pos > prev[0], (
            f"per-record order broken for {ev.key}: {ev!r} after {prev[1]!r}")
        last[ev.key] = (pos, ev)
