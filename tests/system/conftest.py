"""System-test fixtures: the real stack (PostgreSQL, Kafka, model-api, authz, pusher) started
by deploy/local/up on free loopback ports in a fresh MC_VAR, stopped by deploy/local/down.

When a test fails, the lines each service logged while it ran (or the tail of its log) are
attached to the failure report, as mosquitto's test/mosq_test.py prints the broker log.
"""

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "local"
SERVICES = ("model-api", "authz", "pusher")
COMPONENTS = ("postgres", "kafka") + SERVICES
LOG_TAIL_LINES = 60


def free_ports(n):
    """Returns n distinct free TCP ports on 127.0.0.1 (bound to port 0 together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(text, lines=LOG_TAIL_LINES):
    return "\n".join(text.splitlines()[-lines:])


class Stack:
    """The running stack: addresses, environment, and helpers to reach into it."""

    def __init__(self, var_dir, env, ports):
        self.var_dir = Path(var_dir)
        self.env = env
        self.api_url = f"http://127.0.0.1:{ports['api']}"
        self.authz_url = f"http://127.0.0.1:{ports['authz']}"
        self.pusher_ws_url = f"ws://127.0.0.1:{ports['pusher']}/ws"
        self.kafka_bootstrap = f"127.0.0.1:{ports['kafka']}"
        self.pg_conninfo = f"host=127.0.0.1 port={ports['pg']} dbname=modelcast user=modelcast"

    def psql(self, sql, timeout=30):
        """Runs sql through psql as the modelcast role; returns its unaligned output."""
        proc = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", self.pg_conninfo, "-c", sql],
            capture_output=True, text=True, timeout=timeout, env=self.env,
        )
        if proc.returncode != 0:
            raise AssertionError(f"psql failed ({proc.returncode}) on {sql!r}:\n{proc.stderr}")
        return proc.stdout

    def log_path(self, name):
        return self.var_dir / "log" / f"{name}.log"

    def log(self, name):
        """The whole log of component name ('model-api', 'kafka', ...), '' if none yet."""
        try:
            return self.log_path(name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_sizes(self):
        sizes = {}
        for name in COMPONENTS:
            try:
                sizes[name] = self.log_path(name).stat().st_size
            except FileNotFoundError:
                sizes[name] = 0
        return sizes

    def logs_since(self, sizes):
        """Each service's log lines written after sizes (from log_sizes); the tail if none."""
        parts = []
        for name in COMPONENTS:
            text = self.log(name)
            since = ""
            if sizes:
                try:
                    raw = self.log_path(name).read_bytes()
                except FileNotFoundError:
                    raw = b""
                since = raw[sizes.get(name, 0):].decode(errors="replace")
            if since.strip():
                parts.append(f"----- {name}.log (during the test) -----\n{_tail(since)}")
            elif name in SERVICES:
                parts.append(f"----- {name}.log (tail) -----\n{_tail(text) or '(empty)'}")
        return "\n".join(parts)


def _run_script(name, env, timeout):
    return subprocess.run(
        [str(DEPLOY / name)], env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _down(env, var_dir):
    proc = _run_script("down", env, timeout=120)
    if proc.returncode != 0:
        print(f"deploy/local/down failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    # A PostgreSQL data folder outside MC_VAR (see deploy/local/up) is this session's alone.
    pgdata_file = Path(var_dir) / "run" / "pgdata"
    if pgdata_file.exists():
        pgdata = Path(pgdata_file.read_text().strip())
        if pgdata.parent == Path("/var/tmp") and pgdata.name.startswith("modelcast-pg-"):
            shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    pg, kafka, ctrl, api, authz, pusher = free_ports(6)
    ports = {"pg": pg, "kafka": kafka, "api": api, "authz": authz, "pusher": pusher}
    env = dict(os.environ)
    env.update({
        "MC_VAR": str(var_dir),
        "MC_BUILD_DIR": os.environ.get("MC_BUILD_DIR", str(REPO / "build")),
        "MC_PG_PORT": str(pg),
        "MC_BROKER_PORT": str(kafka),
        "MC_BROKER_CONTROLLER_PORT": str(ctrl),
        "MC_API_PORT": str(api),
        "MC_AUTHZ_PORT": str(authz),
        "MC_PUSHER_PORT": str(pusher),
        "MC_LOG_LEVEL": os.environ.get("MC_LOG_LEVEL", "debug"),
    })
    s = Stack(var_dir, env, ports)
    try:
        proc = _run_script("up", env, timeout=600)
    except subprocess.TimeoutExpired as e:
        _down(env, var_dir)
        pytest.fail(f"deploy/local/up did not finish in {e.timeout}s\n{s.logs_since({})}")
    if proc.returncode != 0:
        _down(env, var_dir)
        pytest.fail(
            f"deploy/local/up failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
            f"{s.logs_since({})}",
            pytrace=False,
        )
    yield s
    _down(env, var_dir)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the item, and attaches the service logs to a test that
    failed in its body or in its own fixtures (once the stack was up)."""
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed and rep.when in ("setup", "call"):
        s = getattr(item, "funcargs", {}).get("stack")
        if isinstance(s, Stack):
            rep.sections.append(("service logs", s.logs_since(getattr(item, "_mc_log_sizes", {}))))
    return rep


@pytest.fixture(autouse=True)
def _mark_service_logs(request):
    """Notes where each log stood when the test began, so a failure shows what it caused."""
    if "stack" in request.fixturenames:
        request.node._mc_log_sizes = request.getfixturevalue("stack").log_sizes()
    yield
