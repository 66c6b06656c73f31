"""deploy/grafana/modelcast.json is a well-formed Grafana dashboard, and every metric it (and
deploy/prometheus/modelcast-alerts.yml) queries is one the services expose.

Every PromQL expression of the dashboard (panel targets and template variables) is parsed with
promql-parser (a PromQL parser compatible with Prometheus'), after Grafana's range variables
are replaced by a duration. Each selector's metric must be a sample name in the /metrics of the
session stack's model-api, authz or pusher (histograms by their exposed _bucket/_sum/_count
series), as read by prometheus_client's exposition parser; the labels it matches on, groups by
or names in a legend must be labels of those series (job and instance are added by Prometheus
when it scrapes), and a value it matches exactly must be one they have. The JWKS metrics exist
only in a service verifying with a key set, the span metrics only in one exporting spans: a
model-api started here with MC_JWT_JWKS_FILE and MC_OTLP_ENDPOINT (a closed loopback port:
nothing is exported) supplies them.

The alert rules get the same checks, and the labels their annotations name must be labels of
their result. The other way round, every metric the services expose is shown by some panel
(a histogram or counter by any of its series).
"""

import base64
import contextlib
import json
import os
import re
import signal
import subprocess

import promql_parser as pql
import pytest
import requests
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO, free_ports
from mc_testlib import HTTP_TIMEOUT, wait_ready

DASHBOARD = REPO / "deploy" / "grafana" / "modelcast.json"
ALERTS = REPO / "deploy" / "prometheus" / "modelcast-alerts.yml"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
TARGET_LABELS = {"job", "instance"}  # attached by Prometheus to every scraped series
GRID_WIDTH = 24
BUILTIN_VARS = {"__rate_interval", "__interval", "__range", "__range_s", "__range_ms",
                "__interval_ms", "__all"}
LABEL_VALUES_RE = re.compile(r"^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$", re.S)
RANGE_VAR_RE = re.compile(r"\[\$\{?(\w+)\}?([:\]])")
VAR_RE = re.compile(r"\$\{?(\w+)")
LEGEND_LABEL_RE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
ALERT_LABEL_RE = re.compile(r"\$labels\.(\w+)")


# ------------------------------------------------------------------ the dashboard's queries

@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


def all_panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def panel_queries(dashboard):
    """(where, expr, legendFormat) of every panel target."""
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            yield (f"panel {panel['id']} {panel['title']!r} target {target.get('refId')}",
                   target["expr"], target.get("legendFormat", ""))


def variable_queries(dashboard):
    """(where, selector, label) of every label_values() template variable."""
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = LABEL_VALUES_RE.match(q.strip())
        assert m, f"variable {var['name']}: {q!r} is not label_values(selector, label)"
        yield f"variable {var['name']}", m.group(1), m.group(2)


def parse(expr, where):
    """The AST of expr, its range variables ([$__rate_interval]) replaced by a duration."""
    try:
        return pql.parse(RANGE_VAR_RE.sub(r"[5m\2", expr))
    except ValueError as e:
        pytest.fail(f"{where}: PromQL does not parse ({e}):\n{expr}")


def nodes(ast):
    found = []
    pql.walk(ast, lambda n: found.append(n))
    return found


def selectors(ast):
    return [n for n in nodes(ast) if isinstance(n, pql.VectorSelector)]


def matchers(sel):
    return [(m.name, str(m.op).rsplit(".", 1)[-1], m.value) for m in sel.matchers.matchers]


def metric_name(sel):
    if sel.name:
        return sel.name
    return next((v for n, op, v in matchers(sel) if n == "__name__" and op == "Equal"), None)


def result_labels(node, labels_of):
    """The labels the series of node's result can carry (None: a scalar), following PromQL:
    an aggregation keeps its by() labels, histogram_quantile drops le, a binary operation
    between vectors keeps its left side's. labels_of(selector) gives a selector's labels."""
    if isinstance(node, pql.VectorSelector):
        return set(labels_of(node))
    if isinstance(node, pql.MatrixSelector):
        return set(labels_of(node.vector_selector))
    if isinstance(node, (pql.ParenExpr, pql.UnaryExpr, pql.SubqueryExpr)):
        return result_labels(node.expr, labels_of)
    if isinstance(node, pql.AggregateExpr):
        inner = result_labels(node.expr, labels_of) or set()
        if str(node.op) in ("topk", "bottomk", "limitk", "limit_ratio"):
            return inner
        if node.modifier is None:
            return set()
        kept = set(node.modifier.labels)
        return kept if str(node.modifier.type).endswith("By") else inner - kept
    if isinstance(node, pql.BinaryExpr):
        lhs = result_labels(node.lhs, labels_of)
        return result_labels(node.rhs, labels_of) if lhs is None else lhs
    if isinstance(node, pql.Call):
        if str(node.func.return_type).endswith("Scalar"):
            return None
        out = set()
        for arg in node.args:
            out |= result_labels(arg, labels_of) or set()
        return out - {"le"} if node.func.name == "histogram_quantile" else out
    return None  # a number or string literal


# ------------------------------------------------------------------ what the services expose

def exposed_series(url):
    """{sample name: [labels, ...]} of url/metrics, parsed as Prometheus text exposition."""
    r = requests.get(f"{url}/metrics", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"{url}/metrics: {r.status_code} {r.text[:200]}"
    series = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            series.setdefault(sample.name, []).append(dict(sample.labels))
    return series


def b64(n):
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


@contextlib.contextmanager
def jwks_model_api(stack, tmp_path):
    """A second model-api with the stack's settings, verifying with a JWKS file of one key and
    exporting spans (to a port nothing listens on)."""
    pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "kid": "dash",
                                          "use": "sig", "alg": "ES256",
                                          "x": b64(pub.x), "y": b64(pub.y)}]}))
    pid = stack.pid("model-api")
    assert pid, "the stack's model-api is not running"
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(i.decode().split("=", 1) for i in f.read().split(b"\0") if b"=" in i)
    for name in ("MC_JWT_KEY", "MC_JWT_KEY_FILE", "MC_JWT_ALG"):
        env.pop(name, None)
    port, otlp_port = free_ports(2)
    env.update({"MC_HTTP_PORT": str(port), "MC_JWT_JWKS_FILE": str(jwks),
                "MC_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}"})
    stack.extra_logs.append("model-api-dashboard")
    with open(stack.log_path("model-api-dashboard"), "ab") as log:
        proc = subprocess.Popen([os.readlink(f"/proc/{pid}/exe")], env=env,
                                cwd=str(stack.var_dir), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


@pytest.fixture(scope="module")
def exposed(stack, tmp_path_factory):
    """{service: {sample name: [labels, ...]}} of the stack's services and a model-api with a
    JWKS and span export."""
    # modelcast_http_requests_total{route,status} has a series once a request was answered.
    assert requests.get(f"{stack.api_url}/readyz", timeout=HTTP_TIMEOUT).status_code == 200
    out = {"model-api": exposed_series(stack.api_url),
           "authz": exposed_series(stack.authz_url),
           "pusher": exposed_series(f"http://127.0.0.1:{stack.ports['pusher']}")}
    with jwks_model_api(stack, tmp_path_factory.mktemp("jwks")) as url:
        out["model-api with a JWKS and spans"] = exposed_series(url)
    return out


# ------------------------------------------------------------------ tests

def test_dashboard_is_well_formed(dashboard):
    d = dashboard
    assert d["schemaVersion"] >= 36 and d["uid"] == "modelcast" and d["title"]
    assert d.get("id") is None, "an exported dashboard has no database id"
    inputs = {i["name"]: i for i in d["__inputs"]}
    assert inputs["DS_PROMETHEUS"]["type"] == "datasource"
    assert inputs["DS_PROMETHEUS"]["pluginId"] == "prometheus"
    required = {(r["type"], r["id"]) for r in d["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    variables = {v["name"] for v in d["templating"]["list"]}
    assert {"job", "instance"} <= variables
    for v in d["templating"]["list"]:
        assert v.get("datasource") == DATASOURCE, f"variable {v['name']}: {v.get('datasource')}"

    panels = list(all_panels(d))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    assert all(p.get("title") for p in panels), "a panel without a title"
    rows = [p for p in d["panels"] if p["type"] == "row"]
    assert rows and d["panels"][0]["type"] == "row", "the dashboard starts with a row"
    for p in panels:
        what = f"panel {p['id']} {p.get('title')!r}"
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0, f"{what}: {g}"
        assert g["x"] + g["w"] <= GRID_WIDTH, f"{what} is wider than the grid: {g}"
        if p["type"] == "row":
            assert g["w"] == GRID_WIDTH and g["x"] == 0, f"{what}: a row spans the grid: {g}"
            continue
        assert ("panel", p["type"]) in required, f"{what}: type {p['type']} not in __requires"
        assert p.get("datasource") == DATASOURCE, f"{what}: datasource {p.get('datasource')}"
        assert p.get("targets"), f"{what} has no targets"
        refs = [t.get("refId") for t in p["targets"]]
        assert all(refs) and len(refs) == len(set(refs)), f"{what}: refIds {refs}"
        for t in p["targets"]:
            assert t.get("datasource") == DATASOURCE, f"{what} {t.get('refId')}: datasource"
            assert t.get("expr", "").strip(), f"{what} {t.get('refId')}: no expr"
        assert p["fieldConfig"]["defaults"].get("unit"), f"{what} has no unit"
        assert g["y"] > rows[0]["gridPos"]["y"], f"{what} is above the first row"

    def cells(p):
        g = p["gridPos"]
        return {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
    taken = {}
    for p in d["panels"]:
        for cell in cells(p):
            assert cell not in taken, \
                f"panel {p['id']} {p['title']!r} overlaps panel {taken[cell]} at {cell}"
            taken[cell] = p["id"]

    for where, expr, _ in panel_queries(d):
        for name in VAR_RE.findall(expr):
            assert name in variables or name in BUILTIN_VARS, f"{where}: unknown ${name}"
        parse(expr, where)
    for where, selector, _ in variable_queries(d):
        parse(selector, where)


def check_selector(sel, where, everything, problems):
    """Adds to problems what sel asks for that no exposed series has; returns the label sets
    of the series it selects ([] when its metric is unknown)."""
    name = metric_name(sel)
    if name is None:  # {__name__=~"modelcast_.+"}: the regex must select something
        regexes = [v for n, op, v in matchers(sel) if n == "__name__" and op == "Re"]
        if not regexes or not any(re.fullmatch(r, n) for r in regexes for n in everything):
            problems.append(f"{where}: {sel} selects no exposed metric")
        return [labels for n, series in everything.items()
                if any(re.fullmatch(r, n) for r in regexes) for labels in series]
    if name not in everything:
        problems.append(f"{where}: metric {name} is exposed by no service")
        return []
    series = everything[name]
    for label, op, value in matchers(sel):
        if label in TARGET_LABELS or label == "__name__":
            continue
        values = {s[label] for s in series if label in s}
        if not values:
            problems.append(f"{where}: {name} has no label {label!r}")
        elif op == "Equal" and "$" not in value and value not in values:
            problems.append(f"{where}: {name}{{{label}={value!r}}} matches none of "
                            f"{sorted(values)}")
    return series


def check_query(where, expr, everything, problems, checked):
    """Adds to problems what expr asks for that no exposed series has, and its metric names to
    checked; returns the labels its result can carry."""
    ast = parse(expr, where)
    series_of = {}
    for sel in selectors(ast):
        series_of[str(sel)] = check_selector(sel, where, everything, problems)
        checked.add(metric_name(sel))
    for node in nodes(ast):
        if isinstance(node, pql.AggregateExpr) and node.modifier is not None:
            below = set(TARGET_LABELS)
            for sel in selectors(node.expr):
                below |= {k for s in everything.get(metric_name(sel), []) for k in s}
            missing = set(node.modifier.labels) - below
            if missing:
                problems.append(f"{where}: groups by {sorted(missing)}, a label of none of "
                                f"its metrics")
    return result_labels(
        ast, lambda sel: TARGET_LABELS.union(*series_of.get(str(sel), []))) or set()


@pytest.fixture(scope="module")
def everything(exposed):
    """{sample name: [labels, ...]} of all the services together."""
    out = {}
    for series in exposed.values():
        for name, labels in series.items():
            out.setdefault(name, []).extend(labels)
    return out


def test_every_queried_metric_is_exposed(dashboard, exposed, everything):
    problems, checked = [], set()
    for where, expr, legend in panel_queries(dashboard):
        available = check_query(where, expr, everything, problems, checked)
        for label in LEGEND_LABEL_RE.findall(legend):
            if label not in available:
                problems.append(f"{where}: legend {{{{{label}}}}} is not a label of its "
                                f"result (only {sorted(available)})")
    for where, selector, label in variable_queries(dashboard):
        for sel in selectors(parse(selector, where)):
            check_selector(sel, where, everything, problems)
        if label not in TARGET_LABELS:
            problems.append(f"{where}: label_values of {label!r}, not a target label")

    assert not problems, "\n".join(problems)
    # The dashboard covers every service (and checks were made at all).
    for service in ("model-api", "authz", "pusher"):
        assert checked & set(exposed[service]), f"no panel shows a metric of {service}"
    extra = set(exposed["model-api with a JWKS and spans"]) - set(exposed["model-api"])
    for kind in ("modelcast_jwks_", "modelcast_trace_"):
        only = {name for name in extra if name.startswith(kind)}
        assert only, f"the second model-api exposes no {kind}* metric"
        assert checked & only, f"no panel shows a {kind}* metric ({sorted(only)})"


SAMPLE_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def family(sample):
    """The metric a sample name belongs to (a counter's _total, a histogram's _bucket...)."""
    for suffix in SAMPLE_SUFFIXES:
        if sample.endswith(suffix):
            return sample[: -len(suffix)]
    return sample


def test_every_exposed_metric_has_a_panel(dashboard, everything):
    checked = set()
    for where, expr, _ in panel_queries(dashboard):
        check_query(where, expr, everything, [], checked)
    shown = {family(name) for name in checked if name}
    missing = sorted({family(name) for name in everything} - shown)
    assert not missing, f"metrics no panel shows: {missing}"


def test_every_alert_metric_is_exposed(everything):
    """deploy/prometheus/modelcast-alerts.yml: the same checks for each rule's expression, and
    each $labels.X of its annotations is a label of its result."""
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    assert rules, f"{ALERTS} has no rules"
    problems, names = [], [r["alert"] for r in rules]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    for rule in rules:
        where = f"alert {rule['alert']}"
        available = check_query(where, rule["expr"], everything, problems, set())
        assert rule.get("labels", {}).get("severity"), f"{where} has no severity"
        for text in rule.get("annotations", {}).values():
            for label in ALERT_LABEL_RE.findall(text):
                if label not in available:
                    problems.append(f"{where}: $labels.{label} is not a label of its result "
                                    f"(only {sorted(available)})")
    assert not problems, "\n".join(problems)
