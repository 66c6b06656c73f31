"""The services' spans in a real Jaeger (v2, built from the Go module proxy by
tests/trace/build-jaeger): one POST is one trace of the four spans "REST write", "relay
publish", "authz route + commit", "pusher fan-out", each the child of the one before, as
Jaeger's query API (/api/traces/<id>) returns it. Prints the four durations of each traced
write (the first write of a fresh stack is printed apart: it pays for connections and the
first Kafka transaction).

Run by `make test-trace` (not `make test`: the first build of Jaeger takes many minutes).
JAEGER_BIN names the binary; without it the test builds (or finds) it with build-jaeger.
Every wait has a deadline; no fixed sleeps; no timing assertions.
"""

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "system"))

from conftest import free_ports, start_stack  # noqa: E402  (tests/system/conftest.py)
from mc_testlib import check_eq, wait_until  # noqa: E402
from test_tracing import TRACEPARENT_RE, change_frame, post_word, subscribe  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

SPAN_NAMES = ("REST write", "relay publish", "authz route + commit", "pusher fan-out")
SERVICES = {"REST write": "modelcast-model-api", "relay publish": "modelcast-model-api",
            "authz route + commit": "modelcast-authz", "pusher fan-out": "modelcast-pusher"}
DEADLINE_S = 60
MEASURED = 3

JAEGER_CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:{health}
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def jaeger_binary():
    path = os.environ.get("JAEGER_BIN")
    if not path:
        proc = subprocess.run([str(REPO / "tests" / "trace" / "build-jaeger")], text=True,
                              capture_output=True, timeout=3600)
        assert proc.returncode == 0, f"build-jaeger failed:\n{proc.stderr[-3000:]}"
        path = proc.stdout.strip().splitlines()[-1]
    assert os.access(path, os.X_OK), f"no Jaeger binary at {path}"
    return path


class Jaeger:
    """Jaeger v2 all in one (OTLP/HTTP receiver, memory storage, query API) on free ports."""

    def __init__(self, workdir):
        otlp, query, query_grpc, health = free_ports(4)
        self.otlp_url = f"http://127.0.0.1:{otlp}"
        self.query_url = f"http://127.0.0.1:{query}"
        self.health_url = f"http://127.0.0.1:{health}/status"
        config = Path(workdir) / "jaeger.yaml"
        config.write_text(JAEGER_CONFIG.format(otlp=otlp, query=query, query_grpc=query_grpc,
                                               health=health))
        self.log_path = Path(workdir) / "jaeger.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([jaeger_binary(), "--config", str(config)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                pytest.fail(f"jaeger exited ({self.proc.returncode}):\n{self.log()}")
            try:
                return requests.get(self.health_url, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_until(up, "Jaeger's health check answers 200", DEADLINE_S)

    def log(self):
        return self.log_path.read_text(errors="replace")[-4000:]

    def trace(self, trace_id):
        """The trace as /api/traces/<id> returns it ({} until Jaeger has it)."""
        r = requests.get(f"{self.query_url}/api/traces/{trace_id}", timeout=10)
        if r.status_code != 200:
            return {}
        data = r.json().get("data") or []
        return data[0] if data else {}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory):
    j = Jaeger(tmp_path_factory.mktemp("jaeger"))
    yield j
    j.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, jaeger):
    saved = os.environ.get("MC_OTLP_ENDPOINT")
    os.environ["MC_OTLP_ENDPOINT"] = jaeger.otlp_url
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


def four_spans(jaeger, trace_id, client_span):
    """Waits for the trace's four spans in Jaeger, checks their links; returns {name: span}."""
    def got():
        t = jaeger.trace(trace_id)
        names = sorted(s["operationName"] for s in t.get("spans", []))
        return t if names == sorted(SPAN_NAMES) else None
    t = wait_until(got, f"trace {trace_id} with the four spans in Jaeger "
                   f"(has {[s['operationName'] for s in jaeger.trace(trace_id).get('spans', [])]})",
                   DEADLINE_S)
    by = {s["operationName"]: s for s in t["spans"]}
    processes = t.get("processes", {})
    for name, s in by.items():
        check_eq(s["traceID"], trace_id, f"{name}: trace id")
        check_eq(processes[s["processID"]]["serviceName"], SERVICES[name], f"{name}: service")
    parents = {name: [r["spanID"] for r in s.get("references", []) if r["refType"] == "CHILD_OF"]
               for name, s in by.items()}
    check_eq(parents["REST write"], [client_span], "REST write's parent (the caller's span)")
    for child, parent in zip(SPAN_NAMES[1:], SPAN_NAMES):
        check_eq(parents[child], [by[parent]["spanID"]], f"{child}'s parent is {parent}")
    return by


def test_one_post_one_trace_four_spans_in_jaeger(stack, jaeger):
    rows = []
    with ws_connect(stack.pusher_ws_url, open_timeout=10) as c:
        subscribe(c)
        for i in range(1 + MEASURED):
            parent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
            _, trace_id, client_span = TRACEPARENT_RE.match(parent).group(0, 1, 2)
            r = post_word(stack, {"traceparent": parent}, f"jaeger-{i}-{secrets.token_hex(4)}")
            change_frame(c, r.json()["id"])
            check_eq(TRACEPARENT_RE.match(r.headers["traceresponse"]).group(1), trace_id,
                     "traceresponse trace-id")
            by = four_spans(jaeger, trace_id, client_span)
            rows.append((trace_id, [by[n]["duration"] / 1000.0 for n in SPAN_NAMES]))
    print("\nJaeger: one POST, one trace, four spans; durations in ms "
          f"({', '.join(SPAN_NAMES)}):")
    for i, (tid, ms) in enumerate(rows):
        label = "first write of the stack" if i == 0 else f"write {i}"
        print(f"  {label:26s} trace {tid}: " + ", ".join(f"{v:.3f}" for v in ms))
    print(f"  (Jaeger's query API: {jaeger.query_url}/api/traces/<trace id>)")
