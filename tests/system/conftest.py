"""System-test fixtures: the real stack (PostgreSQL, Kafka, model-api, authz, pusher) started
by deploy/local/up on free loopback ports in a fresh MC_VAR, stopped by deploy/local/down.

When a test fails, the lines each service logged while it ran (or the tail of its log) are
attached to the failure report, as mosquitto's test/mosq_test.py prints the broker log.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
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

    def __init__(self, var_dir, env, ports, components=COMPONENTS):
        self.var_dir = Path(var_dir)
        self.env = env
        self.ports = dict(ports)
        self.components = tuple(components)
        self.extra_logs = []  # more log names (e.g. a second model-api started by a test)
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

    def _log_names(self):
        return [c for c in COMPONENTS if c in self.components] + list(self.extra_logs)

    def log_sizes(self):
        sizes = {}
        for name in self._log_names():
            try:
                sizes[name] = self.log_path(name).stat().st_size
            except FileNotFoundError:
                sizes[name] = 0
        return sizes

    def logs_since(self, sizes):
        """Each service's log lines written after sizes (from log_sizes); the tail if none."""
        parts = []
        for name in self._log_names():
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
            elif name in SERVICES or name in self.extra_logs:
                parts.append(f"----- {name}.log (tail) -----\n{_tail(text) or '(empty)'}")
        return "\n".join(parts)

    # --- single components (deploy/local/up|down NAME, kill -9 by recorded pid)

    def pid(self, name):
        """The live pid recorded in $MC_VAR/run/NAME.pid, or None."""
        try:
            pid = int((self.var_dir / "run" / f"{name}.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    def up(self, *names, timeout=300):
        """deploy/local/up NAMES...; fails the test (with the logs) when it fails."""
        proc = _run_script("up", self.env, timeout, *names)
        if proc.returncode != 0:
            pytest.fail(f"deploy/local/up {' '.join(names)} failed ({proc.returncode}):\n"
                        f"{proc.stdout}{proc.stderr}\n{self.logs_since({})}", pytrace=False)

    def down(self, *names, timeout=120):
        """deploy/local/down NAMES... (SIGTERM, then SIGKILL after 10 s)."""
        proc = _run_script("down", self.env, timeout, *names)
        if proc.returncode != 0:
            pytest.fail(f"deploy/local/down {' '.join(names)} failed ({proc.returncode}):\n"
                        f"{proc.stdout}{proc.stderr}", pytrace=False)

    def kill9(self, name, deadline_s=30):
        """SIGKILL to component NAME's recorded pid; returns once the process is gone."""
        pid = self.pid(name)
        assert pid, f"kill9({name!r}): no live pid recorded in {self.var_dir / 'run'}"
        os.kill(pid, signal.SIGKILL)
        wait_pid_gone(pid, deadline_s, what=f"{name} (pid {pid}) after SIGKILL")
        # Where nobody reaps orphans (PID 1 of some containers), the zombie would still look
        # alive to deploy/local (kill -0, /proc/PID/stat) and `up` would not restart it.
        (self.var_dir / "run" / f"{name}.pid").unlink(missing_ok=True)
        return pid

    def stop(self):
        """Stops every component (deploy/local/down) and removes a PostgreSQL data folder
        kept outside MC_VAR. Idempotent."""
        if not getattr(self, "_stopped", False):
            self._stopped = True
            _down(self.env, self.var_dir)


def pid_alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_pid_gone(pid, deadline_s, what):
    deadline = time.monotonic() + deadline_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still running after {deadline_s}s")
        time.sleep(0.05)


def _run_script(name, env, timeout, *args):
    return subprocess.run(
        [str(DEPLOY / name), *args], env=env, capture_output=True, text=True, timeout=timeout,
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


def start_stack(var_dir, models=None, components=None, policies=None):
    """Starts a stack (deploy/local/up COMPONENTS..., all by default) on free loopback ports
    in var_dir, with MC_MODELS=models and MC_POLICIES=policies when given. Fails the test
    (with the logs) if it cannot."""
    pg, kafka, ctrl, api, authz, pusher, edge = free_ports(7)
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
        "MC_PUSHERS": "1",
        "MC_EDGE_PORT": str(edge),
        "MC_DEV_TOKENS": "0",
        "MC_LOG_LEVEL": os.environ.get("MC_LOG_LEVEL", "debug"),
    })
    if models is not None:
        env["MC_MODELS"] = str(models)
    if policies is not None:
        env["MC_POLICIES"] = str(policies)
    s = Stack(var_dir, env, ports, components or COMPONENTS)
    try:
        proc = _run_script("up", env, 600, *(components or ()))
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
    return s


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    s = start_stack(var_dir)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def stack_factory(tmp_path_factory):
    """make(models=None, components=None, policies=None) -> Stack: a private stack in its own MC_VAR, for
    tests that need other models or break components. The caller stops it with .stop()
    (a module-scoped fixture, usually); whatever is still running is stopped at session end."""
    started = []

    def make(models=None, components=None, policies=None):
        s = start_stack(tmp_path_factory.mktemp("var"), models, components, policies)
        started.append(s)
        return s

    yield make
    for s in reversed(started):
        s.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the item, and attaches the service logs to a test that
    failed in its body or in its own fixtures (once the stack was up)."""
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed and rep.when in ("setup", "call"):
        sizes = getattr(item, "_mc_log_sizes", {})
        for name, s in getattr(item, "funcargs", {}).items():
            if isinstance(s, Stack):
                title = "service logs" if name == "stack" else f"service logs ({name})"
                rep.sections.append((title, s.logs_since(sizes.get(id(s), {}))))
    return rep


@pytest.fixture(autouse=True)
def _mark_service_logs(request):
    """Notes where each log stood when the test began, so a failure shows what it caused."""
    sizes = {}
    for name in request.fixturenames:
        if name == "stack" or name.endswith("_stack"):
            s = request.getfixturevalue(name)
            if isinstance(s, Stack):
                sizes[id(s)] = s.log_sizes()
    request.node._mc_log_sizes = sizes
    yield
