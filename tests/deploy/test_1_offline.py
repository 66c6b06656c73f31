"""Offline checks of the deployment files (no engine, no cluster): helm lint, what the chart
refuses and renders, docker compose's own validation of docker-compose.yml with .env.example,
and that every MC_* variable the files set is one the service it is given to reads (its
settings table in services/<name>/ and the shared tables in common/ it includes).
Strict decoding of every rendered object by a real apiserver is in test_3_kubernetes.py.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

from deploy_lib import REPO, harness_env, run

CHART = REPO / "deploy" / "helm" / "modelcast"
SECRETS = ["--set", "postgresql.conninfo=host=pg dbname=modelcast", "--set", "jwt.key=k"]
BINARIES = {"modelcast-model-api": "model-api", "modelcast-authz": "authz",
            "modelcast-pusher": "pusher"}


@pytest.fixture(scope="module")
def env():
    return harness_env() | {"PATH": _tool_path()}


def _tool_path():
    import os
    cache = os.environ.get("MC_DEPLOY_CACHE", "/var/cache/modelcast-deploy")
    versions = dict(line.split("=", 1) for line in
                    (REPO / "tests/deploy/harness/versions.env").read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    return f"{cache}/bin/helm-{versions['HELM_VERSION']}:{os.environ['PATH']}"


# Every optional setting the chart has a value for, set (a JWKS instead of the key).
OPTIONAL_VALUES = ["--set", "jwt.key=", "--set", "jwt.jwksUrl=https://sso.example/certs",
                   "--set", "jwt.jwksAlgs=RS256", "--set", "jwt.issuer=i", "--set", "jwt.audience=a",
                   "--set", "modelApi.corsOrigins=https://app.example",
                   "--set", "modelApi.eventMaxBytes=2000000", "--set", "modelApi.maxBody=500000",
                   "--set", "pusher.wsOrigins=https://app.example",
                   "--set", "pusher.maxConnections=50000", "--set", "edge.enabled=true",
                   "--set", "tracing.otlpEndpoint=http://collector:4318",
                   "--set", "tracing.sample=0.25", "--set", "tracing.headersSecret.name=otlp",
                   "--set", "tracing.headersSecret.key=headers"]
TRACING = {"MC_OTLP_ENDPOINT": "http://collector:4318", "MC_TRACE_SAMPLE": "0.25"}


def helm(env, *args, check=True):
    return run(["helm", *args], env=env, check=check)


def rendered(env, *extra):
    out = helm(env, "template", "t", str(CHART), *SECRETS, *extra).stdout
    return [d for d in yaml.safe_load_all(out) if d]


# ------------------------------------------------------------------- what services read

def _sources(path):
    return "\n".join(p.read_text(errors="replace") for p in sorted(Path(path).rglob("*"))
                     if p.suffix in (".c", ".h"))


def macro_body(text, macro, who):
    """The lines of `#define macro ...` with its backslash continuations."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"\s*#\s*define\s+{macro}\b", line):
            body = [line]
            while body[-1].rstrip().endswith("\\") and i + len(body) < len(lines):
                body.append(lines[i + len(body)])
            return "\n".join(body)
    pytest.fail(f"{who} uses {macro}, which common/ does not define")


def settings_of(service):
    """MC_* names service reads: quoted names in its own sources, plus the rows of every
    shared MC_*_OPTIONS table (common/) it includes; MC_KAFKA_* when common/ passes that
    prefix through to librdkafka."""
    own = _sources(REPO / "services" / service)
    common = _sources(REPO / "common")
    names = set(re.findall(r'"(MC_[A-Z0-9_]+)"', own))
    for macro in set(re.findall(r"\b(MC_[A-Z0-9_]+_OPTIONS)\b", own)):
        names |= set(re.findall(r'"(MC_[A-Z0-9_]+)"', macro_body(common, macro, service)))
    prefixes = ("MC_KAFKA_",) if '"MC_KAFKA_"' in common else ()
    return names, prefixes


def reads(service, name):
    names, prefixes = settings_of(service)
    return name in names or name.startswith(prefixes)


def test_settings_tables_found():
    for s in BINARIES.values():
        names, prefixes = settings_of(s)
        assert {"MC_HTTP_PORT", "MC_HTTP_BIND", "MC_LOG_LEVEL"} <= names, (s, names)
        assert prefixes == ("MC_KAFKA_",)
    assert "MC_JWT_KEY" in settings_of("authz")[0]
    assert "MC_JWT_KEY" not in settings_of("pusher")[0]


def test_every_mc_variable_in_docker_compose_is_read():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    checked = 0
    for name, svc in compose["services"].items():
        cmd = svc.get("command") or []
        if not cmd or cmd[0] not in BINARIES:
            assert not [k for k in (svc.get("environment") or {}) if k.startswith("MC_")
                        and name != "kafka-topics"], f"{name}: MC_* on a non-modelcast service"
            continue
        for var in svc.get("environment") or {}:
            if var.startswith("MC_"):
                assert reads(BINARIES[cmd[0]], var), f"compose {name}: {var} is not read"
                checked += 1
    assert checked >= 10


def test_every_mc_variable_in_the_chart_is_read(env):
    checked = 0
    for extra in ([], ["--set", "kafka.properties.security\\.protocol=SSL",
                       "--set", "jwt.issuer=i", "--set", "jwt.audience=a"], OPTIONAL_VALUES):
        for doc in rendered(env, *extra):
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            for c in spec.get("containers", []):
                cmd = (c.get("command") or [""])[0]
                if cmd not in BINARIES:
                    continue
                for e in c.get("env", []):
                    if e["name"].startswith("MC_"):
                        assert reads(BINARIES[cmd], e["name"]), \
                            f"chart {doc['metadata']['name']}: {e['name']} is not read"
                        checked += 1
    assert checked >= 20


def test_every_mc_variable_in_the_dockerfile_is_read_by_some_service():
    text = (REPO / "deploy/docker/Dockerfile").read_text().replace("\\\n", " ")
    names = set()
    for line in text.splitlines():
        if line.startswith("ENV "):
            names |= set(re.findall(r"\b(MC_[A-Z0-9_]+)=", line))
    assert names
    for n in names:
        assert any(reads(s, n) for s in BINARIES.values()), f"Dockerfile ENV {n} is not read"


# ------------------------------------------------------------------------------- chart

def test_helm_lint_strict(env):
    for extra in ([], ["--set", "ingress.enabled=true", "--set", "pusher.hpa.enabled=false"]):
        r = helm(env, "lint", "--strict", str(CHART), *SECRETS, *extra)
        assert "0 chart(s) failed" in r.stdout, r.stdout


def test_chart_refuses_missing_secrets(env):
    r = helm(env, "template", "t", str(CHART), check=False)
    assert r.returncode != 0 and "postgresql.conninfo" in r.stderr, r.stderr
    r = helm(env, "template", "t", str(CHART), "--set", "postgresql.conninfo=x", check=False)
    assert r.returncode != 0 and "jwt.key" in r.stderr, r.stderr


def test_chart_objects(env):
    docs = rendered(env, "--set", "edge.enabled=true")
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    cm = [c for c in by_kind["ConfigMap"] if c["metadata"]["name"].endswith("-config")][0]["data"]
    assert json.loads(cm["models.json"]) == json.loads((REPO / "config/models.json").read_text())
    assert json.loads(cm["policies.json"]) == json.loads((REPO / "config/policies.json").read_text())
    assert len(by_kind["PodDisruptionBudget"]) == 4   # model-api, authz, pusher, edge
    assert by_kind["HorizontalPodAutoscaler"][0]["spec"]["scaleTargetRef"]["name"] == "t-modelcast-pusher"
    job = by_kind["Job"][0]
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    sts = by_kind["StatefulSet"][0]
    headless = [s for s in by_kind["Service"] if s["spec"].get("clusterIP") == "None"]
    assert [s["metadata"]["name"] for s in headless] == [sts["spec"]["serviceName"]]
    for d in by_kind["Deployment"] + by_kind["StatefulSet"]:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["limits"] and c["resources"]["requests"]
            assert {"livenessProbe", "readinessProbe"} <= set(c)
            assert not c["image"].endswith(":latest") and ":" in c["image"]
    pusher = [d for d in by_kind["Deployment"] if d["metadata"]["name"].endswith("pusher")][0]
    pod = pusher["spec"]["template"]["spec"]
    pre = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    # Grace covers the preStop wait plus the pusher's 2.5 s drain after SIGTERM, with margin.
    assert pod["terminationGracePeriodSeconds"] >= int(pre[1]) + 5, (pre, pod)
    assert "replicas" not in pusher["spec"], "the HPA owns the pushers' replicas"


def test_compose_config_valid_with_env_example(env):
    r = run(["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "--env-file",
             str(REPO / ".env.example"), "config", "--quiet"], env=env, check=False)
    assert r.returncode == 0, r.stderr
    r = run(["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "--env-file",
             "/dev/null", "config", "--quiet"], env=env, check=False)
    assert r.returncode != 0 and "required variable" in r.stderr, "secrets must be required"


def test_optional_settings_reach_the_services(env):
    """The chart values and compose's .env names an operator sets reach the services as the
    MC_* settings they read (whole numbers as written, nothing when left empty)."""
    want = {"model-api": {"MC_CORS_ORIGINS": "https://app.example",
                          "MC_EVENT_MAX_BYTES": "2000000", "MC_MAX_BODY": "500000",
                          "MC_JWT_JWKS_URL": "https://sso.example/certs",
                          "MC_JWT_JWKS_ALGS": "RS256", **TRACING},
            "authz": {"MC_JWT_JWKS_URL": "https://sso.example/certs", **TRACING},
            "pusher": {"MC_WS_ORIGINS": "https://app.example", "MC_MAX_CONNECTIONS": "50000",
                       **TRACING}}
    seen, headers = {}, {}
    for doc in rendered(env, *OPTIONAL_VALUES):
        for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            cmd = (c.get("command") or [""])[0]
            if cmd in BINARIES:
                seen[BINARIES[cmd]] = {e["name"]: e.get("value") for e in c.get("env", [])}
                headers[BINARIES[cmd]] = [e.get("valueFrom") for e in c.get("env", [])
                                          if e["name"] == "MC_OTLP_HEADERS"]
    for svc, kv in want.items():
        for k, v in kv.items():
            assert seen[svc].get(k) == v, (svc, k, seen[svc].get(k))
        assert "MC_JWT_KEY" not in seen[svc], f"{svc}: a key next to the JWKS"
        assert headers[svc] == [{"secretKeyRef": {"name": "otlp", "key": "headers"}}], svc
    plain = {}
    for doc in rendered(env):
        for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            plain.update({e["name"]: 1 for e in c.get("env", [])})
    for k in ("MC_CORS_ORIGINS", "MC_EVENT_MAX_BYTES", "MC_WS_ORIGINS", "MC_JWT_JWKS_URL",
              "MC_OTLP_ENDPOINT", "MC_TRACE_SAMPLE", "MC_OTLP_HEADERS"):
        assert k not in plain, f"{k} set although its value is empty"
    # compose: the same names pass through from .env (or stay unset).
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    env_example = (REPO / ".env.example").read_text()
    tracing = ["MC_OTLP_ENDPOINT", "MC_OTLP_HEADERS", "MC_TRACE_SAMPLE"]
    for svc, names in (("model-api", ["MC_CORS_ORIGINS", "MC_EVENT_MAX_BYTES", "MC_MAX_BODY",
                                      "MC_JWT_JWKS_URL", "MC_JWT_ISSUER", "MC_JWT_AUDIENCE",
                                      *tracing]),
                       ("authz-1", ["MC_JWT_JWKS_URL", "MC_JWT_ISSUER", "MC_JWT_AUDIENCE",
                                    *tracing]),
                       ("authz-2", tracing),
                       ("pusher", ["MC_WS_ORIGINS", "MC_MAX_CONNECTIONS", *tracing])):
        environment = compose["services"][svc]["environment"]
        for n in names:
            assert n in environment and environment[n] is None, (svc, n, environment.get(n))
            assert re.search(rf"^#?{n}=", env_example, re.M), f".env.example does not show {n}"


def test_probes_follow_the_health_semantics(env):
    """Liveness is /healthz (a stream or relay stopped for good), readiness /readyz (can
    serve); compose's health checks ask both (compose has one check, used for depends_on)."""
    for doc in rendered(env, "--set", "edge.enabled=true"):
        for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            cmd = (c.get("command") or [""])[0]
            if cmd not in BINARIES:
                continue
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", c["name"]
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", c["name"]
            assert c["startupProbe"]["httpGet"]["path"] == "/healthz", c["name"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name, svc in compose["services"].items():
        cmd = svc.get("command") or [""]
        if cmd[0] in BINARIES:
            test = svc.get("healthcheck", {}).get("test") or compose["x-authz"]["healthcheck"]["test"]
            assert test[1:] == ["modelcast-healthcheck", "/healthz", "/readyz"], (name, test)


def test_edge_configs_define_every_upstream_the_shared_routes_use(env):
    """deploy/edge/modelcast.conf is included unchanged by the compose edge and the chart's
    edge: each must define every upstream it proxies to."""
    routes = (REPO / "deploy/edge/modelcast.conf").read_text()
    used = set(re.findall(r"proxy_pass\s+http://([A-Za-z0-9_]+)", routes))
    assert used, "no upstream in the shared routes"
    chart_conf = [d for d in rendered(env, "--set", "edge.enabled=true")
                  if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-edge")]
    assert chart_conf, "no edge ConfigMap"
    for where, text in (("compose", (REPO / "deploy/docker/edge/nginx.conf").read_text()),
                        ("chart", chart_conf[0]["data"]["nginx.conf"])):
        defined = set(re.findall(r"^\s*upstream\s+([A-Za-z0-9_]+)", text, re.M))
        assert used <= defined, f"{where}: {sorted(used - defined)} not defined"
        assert "include /etc/nginx/modelcast/modelcast.conf;" in text, where
    docs = rendered(env, "--set", "edge.enabled=true", "--set", "ingress.enabled=true")
    ing = [d for d in docs if d["kind"] == "Ingress"][0]
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [("/", "t-modelcast-edge")]
    # Without the edge, the Ingress routes as the edge does: REST (GET /v1/channels too, with
    # CORS) to model-api, the WebSocket to the pushers; authz serves only the pushers.
    docs = rendered(env, "--set", "ingress.enabled=true")
    ing = [d for d in docs if d["kind"] == "Ingress"][0]
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert sorted((p["path"], p["backend"]["service"]["name"]) for p in paths) == [
        ("/openapi.json", "t-modelcast-model-api"), ("/v1", "t-modelcast-model-api"),
        ("/ws", "t-modelcast-pusher")], paths
