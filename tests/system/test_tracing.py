"""Trace context across the services (docs/operations.md "Tracing", docs/events.md):

- with MC_OTLP_ENDPOINT on a private stack, pointing at a tiny OTLP/HTTP JSON receiver run
  by this test: one POST yields one trace of four spans - "REST write" (model-api), "relay
  publish" (model-api), "authz route + commit" (authz), "pusher fan-out" (pusher) - each the
  child of the one before, the change event and the delivery carry the trace in
  ce_traceparent/ce_tracestate, every service logs the change with its event_id and
  trace_id; a write from plain SQL starts its trace at the relay, or continues the one its
  session set (SET LOCAL modelcast.traceparent);
- without MC_OTLP_ENDPOINT (the shared stack): nothing is exported, no exporter thread runs,
  no trace metric exists, and the context still flows unchanged from the request to the
  change event and the delivery; an invalid traceparent starts a new trace.

Every wait has a deadline; no fixed sleeps; no timing assertions (durations are printed).
"""

import json
import os
import re
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from websockets.sync.client import connect as ws_connect

from conftest import SERVICES, free_ports, start_stack
from mc_testlib import check_eq, wait_until

MODEL = "Dictionary"
CHANNEL = "Application"
CHANGES = "modelcast.changes"
DELIVERIES = "modelcast.deliveries"
HTTP_TIMEOUT = 15
DEADLINE_S = 60
SPAN_NAMES = ("REST write", "relay publish", "authz route + commit", "pusher fan-out")
TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


# ------------------------------------------------------------------------- OTLP receiver

class OtlpReceiver:
    """An OTLP/HTTP JSON receiver on a free loopback port: keeps every span POSTed to
    /v1/traces with its resource's service.name."""

    def __init__(self):
        self.spans = []
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = self.path == "/v1/traces" and \
                    self.headers.get("Content-Type", "").startswith("application/json")
                if ok:
                    receiver.take(json.loads(body))
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_ports(1)[0]), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self, doc):
        with self.lock:
            self.requests += 1
            for rs in doc.get("resourceSpans", []):
                attrs = {a["key"]: a["value"] for a in rs.get("resource", {}).get("attributes", [])}
                service = attrs.get("service.name", {}).get("stringValue")
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        self.spans.append(dict(sp, service=service))

    def trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def span_attr(span, key):
    for a in span.get("attributes", []):
        if a["key"] == key:
            v = a["value"]
            return v.get("stringValue", v.get("intValue"))
    return None


def duration_ms(span):
    return (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e6


# ---------------------------------------------------------------------------- helpers

class TopicTail:
    """Reads a topic from its ends as they are when created (read_committed), keeping every
    message as (headers dict, value dict)."""

    def __init__(self, stack, topic):
        self.topic = topic
        self.messages = []
        self.c = Consumer({"bootstrap.servers": stack.kafka_bootstrap,
                           "group.id": f"mc-test-{uuid.uuid4()}", "enable.auto.commit": False,
                           "isolation.level": "read_committed"})
        md = self.c.list_topics(topic, timeout=10)
        self.c.assign([TopicPartition(topic, p, self.c.get_watermark_offsets(
            TopicPartition(topic, p), timeout=10, cached=False)[1])
            for p in md.topics[topic].partitions])

    def find(self, match, what, deadline_s=DEADLINE_S):
        deadline = time.monotonic() + deadline_s
        while True:
            for h, v in self.messages:
                if match(h, v):
                    return h, v
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not on {self.topic} within {deadline_s}s "
                            f"({len(self.messages)} messages read)")
            m = self.c.poll(0.5)
            if m is not None and not m.error():
                headers = {k: (v.decode() if v is not None else None) for k, v in (m.headers() or [])}
                self.messages.append((headers, json.loads(m.value())))

    def close(self):
        self.c.close()


def new_traceparent(sampled=True):
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{'01' if sampled else '00'}"


def post_word(stack, headers, tag):
    r = requests.post(f"{stack.api_url}/v1/{MODEL}", headers=headers, timeout=HTTP_TIMEOUT,
                      json={"word": f"trace-{tag}", "definition": "followed", "pronunciation": "p"})
    check_eq(r.status_code, 201, f"POST status (body {r.text!r})")
    return r


def log_records(stack, name):
    """The JSON lines of service name's log."""
    out = []
    for line in stack.log(name).splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def check_logged(stack, name, trace_id, event_id=None):
    """Service name logged a line with trace_id (and event_id, when given) as fields."""
    def found():
        return [r for r in log_records(stack, name) if r.get("trace_id") == trace_id and
                (event_id is None or r.get("event_id") == event_id)]
    lines = wait_until(found, f"{name} logs a line with trace_id {trace_id}"
                       + (f" and event_id {event_id}" if event_id else ""), 30)
    return lines[0]


def subscribe(c, channel=CHANNEL, deadline_s=30):
    c.send(json.dumps({"type": "subscribe", "channel": channel}))
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        f = json.loads(c.recv(timeout=max(0.1, deadline - time.monotonic())))
        if f.get("type") in ("subscribed", "error") and f.get("channel") == channel:
            check_eq(f["type"], "subscribed", f"answer to subscribe {channel} ({f!r})")
            return f
    pytest.fail(f"no answer to subscribe {channel} within {deadline_s}s")


def change_frame(c, rid, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        f = json.loads(c.recv(timeout=max(0.1, deadline - time.monotonic())))
        if f.get("type") == "change" and f.get("model") == MODEL and f.get("id") == rid:
            return f
    pytest.fail(f"no change frame for {MODEL} {rid} within {deadline_s}s")


# -------------------------------------------------------------------- with an exporter

@pytest.fixture(scope="module")
def receiver():
    r = OtlpReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory, receiver):
    """A private stack whose services send their spans to the receiver (the services take
    the stack's environment: deploy/local/up passes it on)."""
    saved = os.environ.get("MC_OTLP_ENDPOINT")
    os.environ["MC_OTLP_ENDPOINT"] = receiver.url
    try:
        s = start_stack(tmp_path_factory.mktemp("var"),
                        components=("postgres", "kafka", "model-api", "authz", "pusher"))
    finally:
        if saved is None:
            os.environ.pop("MC_OTLP_ENDPOINT", None)
        else:
            os.environ["MC_OTLP_ENDPOINT"] = saved
    yield s
    s.stop()


def test_one_post_is_one_trace_of_four_spans(traced_stack, receiver):
    stack = traced_stack
    parent = new_traceparent()
    _, trace_id, client_span, _ = TRACEPARENT_RE.match(parent).group(0, 1, 2, 3)
    changes, deliveries = TopicTail(stack, CHANGES), TopicTail(stack, DELIVERIES)
    try:
        with ws_connect(stack.pusher_ws_url, open_timeout=10) as c:
            subscribe(c)
            r = post_word(stack, {"traceparent": parent, "tracestate": "mc=1, other=x"}, "four")
            rec = r.json()
            frame = change_frame(c, rec["id"])

        # the answer names the trace and the write's span (W3C traceresponse)
        m = TRACEPARENT_RE.match(r.headers.get("traceresponse", ""))
        assert m, f"traceresponse: {r.headers.get('traceresponse')!r}"
        check_eq(m.group(1), trace_id, "traceresponse trace-id")
        assert m.group(2) != client_span, "traceresponse names the server's span, not the caller's"

        def four():
            spans = receiver.trace(trace_id)
            return spans if sorted(s["name"] for s in spans) == sorted(SPAN_NAMES) else None
        spans = wait_until(four, f"the four spans of trace {trace_id} at the receiver "
                           f"(got {[s['name'] for s in receiver.trace(trace_id)]})", DEADLINE_S)
        by = {s["name"]: s for s in spans}
        rest, relay, authz, pusher = (by[n] for n in SPAN_NAMES)
        check_eq(rest.get("parentSpanId"), client_span, "REST write's parent (the caller's span)")
        check_eq(rest["spanId"], m.group(2), "REST write's span is the one traceresponse names")
        check_eq(relay.get("parentSpanId"), rest["spanId"], "relay publish's parent")
        check_eq(authz.get("parentSpanId"), relay["spanId"], "authz route + commit's parent")
        check_eq(pusher.get("parentSpanId"), authz["spanId"], "pusher fan-out's parent")
        check_eq([s["service"] for s in (rest, relay, authz, pusher)],
                 ["modelcast-model-api", "modelcast-model-api", "modelcast-authz",
                  "modelcast-pusher"], "service.name of each span")
        for s in spans:
            assert int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]) > 0, s
        event_id = span_attr(relay, "modelcast.event_id")
        check_eq(frame.get("event_id"), event_id, "the frame's event_id is the relay span's")
        check_eq(span_attr(authz, "modelcast.event_id"), event_id, "authz span event_id")
        check_eq(span_attr(pusher, "modelcast.event_id"), event_id, "pusher span event_id")
        check_eq(span_attr(pusher, "modelcast.subscribers"), "1", "pusher span subscribers")
        check_eq(span_attr(rest, "http.response.status_code"), "201", "REST span status code")
        print("\none trace, four spans (ms): " + ", ".join(
            f"{n} {duration_ms(by[n]):.3f}" for n in SPAN_NAMES))

        # the change event and the delivery carry it on
        h, _ = changes.find(lambda h, v: h.get("ce_id") == event_id, f"change event {event_id}")
        check_eq(h.get("ce_traceparent"), f"00-{trace_id}-{relay['spanId']}-01",
                 "change event ce_traceparent (the relay's span)")
        check_eq(h.get("ce_tracestate"), "mc=1,other=x", "change event ce_tracestate")
        h, _ = deliveries.find(lambda h, v: v.get("event_id") == event_id,
                               f"delivery of {event_id}")
        check_eq(h.get("ce_traceparent"), f"00-{trace_id}-{authz['spanId']}-01",
                 "delivery ce_traceparent (authz's span)")
        check_eq(h.get("ce_tracestate"), "mc=1,other=x", "delivery ce_tracestate")
    finally:
        changes.close()
        deliveries.close()

    # every service logs the change with its trace (and event) id
    check_logged(stack, "model-api", trace_id)                 # the REST write
    check_logged(stack, "model-api", trace_id, event_id)       # the relay
    check_logged(stack, "authz", trace_id, event_id)
    check_logged(stack, "pusher", trace_id, event_id)


def test_sql_writes_start_or_continue_a_trace_at_the_relay(traced_stack, receiver):
    stack = traced_stack
    tag = uuid.uuid4().hex[:8]
    changes = TopicTail(stack, CHANGES)
    try:
        # no trace context in the session: the relay starts one (its span is the root)
        stack.psql(f"INSERT INTO dictionary (word, definition, pronunciation) "
                   f"VALUES ('sql-{tag}', 'd', 'p')")
        h, v = changes.find(lambda h, v: (v.get("after") or {}).get("word") == f"sql-{tag}",
                            "the change event of the SQL insert")
        m = TRACEPARENT_RE.match(h.get("ce_traceparent") or "")
        assert m, f"ce_traceparent of a SQL write: {h.get('ce_traceparent')!r}"
        relay = wait_until(lambda: [s for s in receiver.trace(m.group(1))
                                    if s["name"] == "relay publish"],
                           "the relay span of the SQL write", DEADLINE_S)[0]
        assert not relay.get("parentSpanId"), f"the relay span is the root: {relay!r}"
        check_eq(relay["spanId"], m.group(2), "ce_traceparent names the relay's span")

        # a session that set its trace context: the relay continues it
        parent = new_traceparent()
        _, trace_id, span_id = TRACEPARENT_RE.match(parent).group(0, 1, 2)
        stack.psql(f"BEGIN; SET LOCAL modelcast.traceparent = '{parent}'; "
                   f"UPDATE dictionary SET definition = 'd2' WHERE word = 'sql-{tag}'; COMMIT")
        h, _ = changes.find(lambda h, v: (v.get("after") or {}).get("definition") == "d2" and
                            v["after"].get("word") == f"sql-{tag}", "the SQL update's event")
        check_eq((TRACEPARENT_RE.match(h.get("ce_traceparent") or "") or [None, None])[1],
                 trace_id, "the SQL session's trace goes on")
        relay = wait_until(lambda: [s for s in receiver.trace(trace_id)
                                    if s["name"] == "relay publish"],
                           "the relay span of the traced SQL write", DEADLINE_S)[0]
        check_eq(relay.get("parentSpanId"), span_id, "relay span's parent: the session's span")
    finally:
        changes.close()


# ----------------------------------------------------------------- without an exporter

def threads_of(pid):
    names = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                names.append(f.read().strip())
        except FileNotFoundError:
            pass
    return names


def test_without_an_endpoint_nothing_is_exported_and_the_context_flows(stack):
    urls = {"model-api": stack.api_url, "authz": stack.authz_url,
            "pusher": stack.pusher_ws_url.replace("ws://", "http://").rsplit("/ws", 1)[0]}
    for name in SERVICES:
        pid = stack.pid(name)
        assert pid, f"{name} is not running"
        assert "MC_OTLP_ENDPOINT" not in open(f"/proc/{pid}/environ", "rb").read().decode(
            errors="replace"), f"{name} has MC_OTLP_ENDPOINT"
        check_eq([t for t in threads_of(pid) if t.startswith("mc-otlp")], [],
                 f"{name}'s exporter threads")
        metrics = requests.get(urls[name] + "/metrics", timeout=HTTP_TIMEOUT).text
        assert "modelcast_trace_spans" not in metrics, f"{name} has trace metrics"

    changes, deliveries = TopicTail(stack, CHANGES), TopicTail(stack, DELIVERIES)
    try:
        # a valid context passes through unchanged: no span of ours recorded it
        parent = new_traceparent()
        trace_id = parent.split("-")[1]
        r = post_word(stack, {"traceparent": parent, "tracestate": "vendor=abc"},
                      uuid.uuid4().hex[:8])
        check_eq(r.headers.get("traceresponse"), parent, "traceresponse (nothing recorded)")
        rid = r.json()["id"]
        h, v = changes.find(lambda h, v: v.get("model") == MODEL and v.get("id") == rid,
                            f"change event of {MODEL} {rid}")
        check_eq(h.get("ce_traceparent"), parent, "change event ce_traceparent")
        check_eq(h.get("ce_tracestate"), "vendor=abc", "change event ce_tracestate")
        event_id = h["ce_id"]
        h, _ = deliveries.find(lambda h, v: v.get("event_id") == event_id,
                               f"delivery of {event_id}")
        check_eq(h.get("ce_traceparent"), parent, "delivery ce_traceparent")
        check_eq(h.get("ce_tracestate"), "vendor=abc", "delivery ce_tracestate")
        check_logged(stack, "model-api", trace_id, event_id)
        check_logged(stack, "authz", trace_id, event_id)

        # an invalid traceparent (an all-zero trace-id) starts a new trace; its tracestate
        # is dropped
        bad = f"00-{'0' * 32}-{parent.split('-')[2]}-01"
        r = post_word(stack, {"traceparent": bad, "tracestate": "vendor=abc"},
                      uuid.uuid4().hex[:8])
        m = TRACEPARENT_RE.match(r.headers.get("traceresponse", ""))
        assert m and m.group(1) != trace_id, f"a new trace: {r.headers.get('traceresponse')!r}"
        rid = r.json()["id"]
        h, _ = changes.find(lambda h, v: v.get("model") == MODEL and v.get("id") == rid,
                            f"change event of {MODEL} {rid}")
        check_eq(h.get("ce_traceparent"), r.headers["traceresponse"],
                 "the new trace goes with the change")
        check_eq(h.get("ce_tracestate"), None, "no tracestate without its traceparent")
    finally:
        changes.close()
        deliveries.close()
