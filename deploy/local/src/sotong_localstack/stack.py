"""The whole platform on one machine: Kafka, PostgreSQL and every service process, with their state on disk.

`make up` and the test fixtures use this module. The running stack is described by `<run_dir>/stack.json`
(ports, URLs, process ids), which `make down`, `sotong-stack status` and the demo read.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sotong_common import kakao_templates, sealing
from sotong_localstack import topics
from sotong_localstack.kafka import KafkaCluster, KafkaNode
from sotong_localstack.ports import free_ports
from sotong_localstack.postgres import Postgres

ROOT = Path(__file__).resolve().parents[4]
DEFAULT_RUN_DIR = ROOT / ".run"

# Each service process: console script and which settings it needs beyond the shared ones.
PROCESSES: dict[str, str] = {
    "intake-api": "sotong-intake-api",
    "intake-worker": "sotong-intake-worker",
    "intake-http": "sotong-intake-http",
    "moderation-api": "sotong-moderation-api",
    "moderation-worker": "sotong-moderation-worker",
    "alerting-api": "sotong-alerting-api",
    "alerting-worker": "sotong-alerting-worker",
    "partner-api": "sotong-partner-api",
    "partner-worker": "sotong-partner-worker",
    "partner-http": "sotong-partner-http",
}
GRPC_PROCESSES: tuple[str, ...] = ("intake-api", "moderation-api", "alerting-api", "partner-api")
HTTP_PROCESSES: tuple[str, ...] = ("intake-http", "partner-http")  # answer GET /healthz once serving
# Community (citizen participation): its API and its worker.
PROCESSES.update({"community-api": "sotong-community-api", "community-worker": "sotong-community-worker"})
GRPC_PROCESSES = (*GRPC_PROCESSES, "community-api")
# The partner platform of the local stack: it pushes catalogues to the partner service's signed webhook and
# receives its partner notifications (a merchant consents to it like to a shopping platform).
PARTNER_PLATFORM = "market-hub"


@dataclass
class StackState:
    run_dir: str
    kafka_bootstrap: str
    kafka_nodes: list[dict[str, int | str]]
    database_url: str
    postgres_port: int
    jwt_secret: str
    contact_keys: str
    replication: int
    grpc_ports: dict[str, int] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    trace_file: str = ""
    # The provider stand-ins' ports ({"standins": {"http": p, "smtp": q}, "standins-fallback": {...}}).
    standins_ports: dict[str, dict[str, int]] = field(default_factory=dict)
    topic_prefix: str = ""
    http_ports: dict[str, int] = field(default_factory=dict)
    # The publishing service's sealing key pair (private for the engine, public for every requester).
    seal_keys: str = ""
    seal_public_keys: str = ""
    # Local credentials a newcomer uses to call intake's HTTP channels (printed by `make up`).
    open311_api_key: str = ""
    kakao_skill_token: str = ""
    # The partner service's key ring (contact persons, webhook secrets) and the local partner platform's secret.
    partner_keys: str = ""
    partner_webhook_secret: str = ""
    # The operators' console: the key sealing its session cookies, and the password of its local sign-ins.
    console_session_keys: str = ""
    console_dev_password: str = ""

    def save(self) -> None:
        path = Path(self.run_dir) / "stack.json"
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> StackState:
        return cls(**json.loads((run_dir / "stack.json").read_text()))

    def env(self, process: str = "") -> dict[str, str]:
        """The SOTONG_* environment a service process (or a client) of this stack runs with."""
        env = {
            "SOTONG_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "SOTONG_DATABASE_URL": self.database_url,
            "SOTONG_JWT_SECRET": self.jwt_secret,
            "SOTONG_INTAKE_CONTACT_KEYS": self.contact_keys,
            "SOTONG_TOPIC_REPLICATION": str(self.replication),
            "SOTONG_LOG_LEVEL": "info",
        }
        if self.topic_prefix:
            env["SOTONG_TOPIC_PREFIX"] = self.topic_prefix
        if self.seal_public_keys:
            env["SOTONG_PUBLISHING_SEAL_PUBLIC_KEYS"] = self.seal_public_keys
        if self.seal_keys and (not process or process.startswith("publishing")):
            env["SOTONG_PUBLISHING_SEAL_KEYS"] = self.seal_keys  # only the engine (and tests) can open sealed targets
        # The local credentials, unless the caller's environment sets its own (a test choosing its token).
        if self.open311_api_key and "SOTONG_INTAKE_OPEN311_API_KEYS" not in os.environ:
            env["SOTONG_INTAKE_OPEN311_API_KEYS"] = self.open311_api_key
        if self.kakao_skill_token and "SOTONG_INTAKE_KAKAO_SKILL_TOKEN" not in os.environ:
            env["SOTONG_INTAKE_KAKAO_SKILL_TOKEN"] = self.kakao_skill_token
        if self.trace_file:
            env["SOTONG_OTEL_EXPORTER"] = "file"
            env["SOTONG_OTEL_FILE"] = self.trace_file
        env.update(engine_env(self, process))
        env.update(partner_env(self))
        env.update(community_env(self))
        env.update(gateway_env(self, process))
        env.update(console_env(self, process))
        if process:
            env["SOTONG_GRPC_PORT"] = str(self.grpc_ports.get(process, 0))
            env["SOTONG_METRICS_PORT"] = str(self.metrics_ports.get(process, 0))
            if process in self.http_ports:
                env["SOTONG_HTTP_PORT"] = str(self.http_ports[process])
        return env


# The publishing engine and the provider stand-ins it delivers to on this machine: a primary and a fallback
# instance (same APIs, separate ledgers and fault plans), so the engine's circuit breakers have somewhere to go.
STANDINS_PROCESSES = ("standins", "standins-fallback")
PROCESSES.update({name: "sotong-standins" for name in STANDINS_PROCESSES})
PROCESSES["publishing-dispatch"] = "sotong-publishing-dispatch"

# The gateway: the front door for apps and web pages, native gRPC plus Connect/gRPC-Web on its HTTP port.
PROCESSES["gateway-api"] = "sotong-gateway-api"
GRPC_PROCESSES += ("gateway-api",)
HTTP_PROCESSES += ("gateway-api",)
GATEWAY_BACKENDS = {
    "SOTONG_GATEWAY_INTAKE_TARGET": "intake-api",
    "SOTONG_GATEWAY_ALERTING_TARGET": "alerting-api",
    "SOTONG_GATEWAY_MODERATION_TARGET": "moderation-api",
}
GATEWAY_LOCAL_ORIGINS = "http://localhost:8000,http://127.0.0.1:8000,http://localhost:5173,http://127.0.0.1:5173"
"""Origins of a page a newcomer serves while trying the gateway from a browser (python -m http.server, vite)."""


def gateway_env(state: StackState, process: str) -> dict[str, str]:
    """Where the gateway finds the services of this stack; its origins unless the caller's environment sets them."""
    if process != "gateway-api":
        return {}
    env = {
        name: f"127.0.0.1:{state.grpc_ports[api]}" for name, api in GATEWAY_BACKENDS.items() if api in state.grpc_ports
    }
    if "SOTONG_GATEWAY_ALLOWED_ORIGINS" not in os.environ:
        env["SOTONG_GATEWAY_ALLOWED_ORIGINS"] = GATEWAY_LOCAL_ORIGINS
    return env


# Processes with no port to probe that start through sotong_common.process: the stack waits for their "process
# started" line (the stand-ins are not among them).
LIFECYCLE_PROCESSES: tuple[str, ...] = (
    *(name for name in PROCESSES if name.endswith("-worker")),
    "publishing-dispatch",
)

# The operators' console: pages on its HTTP port, calling the services only through the gateway's gRPC door.
PROCESSES["console-web"] = "sotong-console-web"
HTTP_PROCESSES += ("console-web",)
CONSOLE_DEV_USERS = (
    ("duty-kim", "operator"),
    ("duty-park", "operator"),
    ("approver-lee", "approver"),
    ("moderator-choi", "moderator"),
    ("dept-jung", "dept_admin"),
)
"""The console's local sign-ins (`make up` prints them with their password): two duty officers, so the two-person
rule can be tried with an approver, a moderator and a department admin."""


def console_env(state: StackState, process: str) -> dict[str, str]:
    """The console's gateway, session key and local sign-ins (plain HTTP on this machine: no Secure cookies)."""
    if process != "console-web" or not state.console_session_keys:
        return {}
    env = {
        "SOTONG_CONSOLE_SESSION_KEYS": state.console_session_keys,
        "SOTONG_CONSOLE_SECURE_COOKIES": "false",
        "SOTONG_CONSOLE_DEV_PASSWORD": state.console_dev_password,
    }
    if "gateway-api" in state.grpc_ports:
        env["SOTONG_CONSOLE_GATEWAY_TARGET"] = f"127.0.0.1:{state.grpc_ports['gateway-api']}"
    if "SOTONG_CONSOLE_DEV_USERS" not in os.environ:
        env["SOTONG_CONSOLE_DEV_USERS"] = ",".join(f"{user}={role}" for user, role in CONSOLE_DEV_USERS)
    return env


STANDINS_TOKEN = "standin-token"


def engine_env(state: StackState, process: str) -> dict[str, str]:
    """Stand-in ports for the stand-in processes; provider URLs for the publishing engine (and any client)."""
    if not state.standins_ports:
        return {}
    from sotong_standins.server import Ports

    if process in state.standins_ports:
        ports = state.standins_ports[process]
        return {
            "SOTONG_STANDINS_PORT": str(ports["http"]),
            "SOTONG_STANDINS_SMTP_PORT": str(ports["smtp"]),
            "SOTONG_STANDINS_TOKEN": STANDINS_TOKEN,
            "SOTONG_STANDINS_KAKAO_TEMPLATES": str(kakao_templates.path()),
        }
    urls = {
        name: Ports(ports["http"], ports["smtp"], "127.0.0.1", STANDINS_TOKEN).as_json()["providers"]
        for name, ports in state.standins_ports.items()
    }
    return {
        "SOTONG_PUBLISHING_PROVIDERS": json.dumps(urls["standins"]),
        "SOTONG_PUBLISHING_FALLBACKS": json.dumps(urls["standins-fallback"]),
        "SOTONG_PUBLISHING_PROVIDER_TOKEN": STANDINS_TOKEN,
    }


def partner_env(state: StackState) -> dict[str, str]:
    """The partner service's settings on this machine: its keys, public URL, moderation and the local platform."""
    if not state.partner_keys:
        return {}
    env = {
        "SOTONG_PARTNER_DATA_KEYS": state.partner_keys,
        "SOTONG_PARTNER_PLATFORMS": PARTNER_PLATFORM,
        "SOTONG_PARTNER_WEBHOOK_SECRETS": f"{PARTNER_PLATFORM}={state.partner_webhook_secret}",
        "SOTONG_PARTNER_WEBHOOK_INSECURE_HOSTS": "127.0.0.1,localhost",
    }
    if "partner-http" in state.http_ports:
        env["SOTONG_PARTNER_PUBLIC_URL"] = f"http://127.0.0.1:{state.http_ports['partner-http']}"
    if "moderation-api" in state.grpc_ports:
        env["SOTONG_PARTNER_MODERATION_ADDR"] = f"127.0.0.1:{state.grpc_ports['moderation-api']}"
    return env


def community_env(state: StackState) -> dict[str, str]:
    """The community service's own key ring for class enrolments' contacts, derived from the stack's contact key
    (a key of its own, never intake's)."""
    if not state.contact_keys:
        return {}
    derived = hashlib.sha256(b"sotong.community.contacts|" + state.contact_keys.encode()).digest()
    return {"SOTONG_COMMUNITY_CONTACT_KEYS": "local1:" + base64.b64encode(derived).decode()}


class Stack:
    """Starts and stops the infrastructure and the service processes of one run directory."""

    def __init__(self, run_dir: Path = DEFAULT_RUN_DIR, nodes: int = 1, database_url: str | None = None) -> None:
        self.run_dir = run_dir
        self.nodes = nodes
        self.external_database = database_url or os.environ.get("SOTONG_DATABASE_URL") or None
        self.kafka: KafkaCluster | None = None
        self.postgres: Postgres | None = None
        self.state: StackState | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_offsets: dict[str, int] = {}

    def start_infrastructure(self, say: bool = True) -> StackState:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        if self.external_database:
            database_url = self.external_database
            pg_port = 0
            _say(say, f"postgres: using SOTONG_DATABASE_URL ({database_url.split('@')[-1]})")
        else:
            _say(say, "postgres: starting embedded PostgreSQL")
            self.postgres = Postgres(self.run_dir)
            self.postgres.start()
            database_url, pg_port = self.postgres.url(), self.postgres.port
            _say(say, f"postgres: ready on 127.0.0.1:{pg_port}")
        _say(say, f"kafka: starting {self.nodes}-node KRaft cluster")
        self.kafka = KafkaCluster.create(self.run_dir, self.nodes)
        self.kafka.start()
        _say(say, f"kafka: ready at {self.kafka.bootstrap}")
        created = topics.create_all(self.kafka.bootstrap, self.kafka.replication, self.kafka.min_insync)
        _say(say, f"kafka: {len(created)} topics created from the catalog")
        ports = free_ports(2 * len(PROCESSES) + len(HTTP_PROCESSES))
        self.state = StackState(
            run_dir=str(self.run_dir),
            kafka_bootstrap=self.kafka.bootstrap,
            kafka_nodes=[
                {"node_id": n.node_id, "port": n.port, "controller_port": n.controller_port, "dir": str(n.data_dir)}
                for n in self.kafka.nodes
            ],
            database_url=database_url,
            postgres_port=pg_port,
            jwt_secret=secrets.token_urlsafe(32),
            contact_keys="local1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            open311_api_key="local-" + secrets.token_hex(8),
            kakao_skill_token=secrets.token_urlsafe(16),
            replication=self.kafka.replication,
            grpc_ports={name: ports[i] for i, name in enumerate(PROCESSES) if name in GRPC_PROCESSES},
            metrics_ports={name: ports[len(PROCESSES) + i] for i, name in enumerate(PROCESSES)},
            trace_file=str(self.run_dir / "traces.jsonl"),
            http_ports={name: ports[2 * len(PROCESSES) + i] for i, name in enumerate(HTTP_PROCESSES)},
        )
        self.state.seal_keys, self.state.seal_public_keys = sealing.new_pair("local1")
        self.state.partner_keys = "local1:" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.state.partner_webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.state.console_session_keys = "local1:" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.state.console_dev_password = "sotong-" + secrets.token_hex(4)
        standins = free_ports(2 * len(STANDINS_PROCESSES))
        self.state.standins_ports = {
            name: {"http": standins[2 * i], "smtp": standins[2 * i + 1]} for i, name in enumerate(STANDINS_PROCESSES)
        }
        for node in self.kafka.nodes:
            assert node.process is not None
            self.state.pids[f"kafka-{node.node_id}"] = node.process.pid
        self.state.save()
        return self.state

    def start_process(self, name: str) -> subprocess.Popen[bytes]:
        """Start (or restart) one service process in its own session, logging to <run_dir>/logs/<name>.log."""
        assert self.state is not None
        running = self.processes.get(name)
        if running is not None and running.poll() is None:  # a second one would be orphaned, never stopped
            raise RuntimeError(f"{name} is already running (pid {running.pid}); stop it before starting another")
        script = Path(sys.executable).parent / PROCESSES[name]
        log = open(self.run_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        self._log_offsets[name] = log.tell()  # a restart appends: only what this start writes says it started
        proc = subprocess.Popen(
            [str(script)],
            env={**os.environ, **self.state.env(name)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = proc
        self.state.pids[name] = proc.pid
        self.state.save()
        return proc

    def start_services(self, names: tuple[str, ...] = tuple(PROCESSES), say: bool = True, timeout: float = 60) -> None:
        for name in names:
            self.start_process(name)
        assert self.state is not None
        for name in names:
            if name in GRPC_PROCESSES:
                wait_serving(self.state.grpc_ports[name], self.processes[name], timeout, self.run_dir, name)
                _say(say, f"{name}: serving gRPC on 127.0.0.1:{self.state.grpc_ports[name]}")
            elif name in HTTP_PROCESSES and name in self.state.http_ports:
                wait_http(self.state.http_ports[name], self.processes[name], timeout, self.run_dir, name)
                _say(say, f"{name}: serving HTTP on 127.0.0.1:{self.state.http_ports[name]}")
            else:
                if name in LIFECYCLE_PROCESSES:
                    wait_started(self.run_dir, name, self._log_offsets.get(name, 0), self.processes[name], timeout)
                _say(say, f"{name}: started (logs in {self.run_dir / 'logs' / (name + '.log')})")

    def kill_process(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes[name]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=60)

    def stop(self, remove_run_dir: bool = False) -> None:
        """Stop every process, then Kafka and PostgreSQL; `remove_run_dir` then deletes their data and logs (a
        throwaway stack's gigabyte or two: benchmarks pass it when they succeeded, keeping a failed run's logs)."""
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.kafka is not None:
            self.kafka.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if remove_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def kafka_node(self, node_id: int) -> KafkaNode:
        assert self.kafka is not None
        return next(n for n in self.kafka.nodes if n.node_id == node_id)


def _grpc_serving(port: int) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def _http_healthy(port: int) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(
    probe: Callable[[int], bool],
    port: int,
    proc: subprocess.Popen[bytes] | None,
    timeout: float,
    run_dir: Path,
    name: str,
) -> None:
    """Wait until `probe(port)` holds; fail at once, with the log's tail, if the process exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            log = (run_dir / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log}")
        if probe(port):
            return
        time.sleep(0.2)
    where = f"serving on port {port}" if port else "started"
    raise TimeoutError(f"{name} is not {where} after {timeout:.0f}s")


def wait_started(run_dir: Path, name: str, offset: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Wait until a process without a port logs "process started" (`sotong_common.process` does once its start-up,
    connections and migrations included, is done); fail with its log's tail if it exits first. A worker that died
    at start was reported as started before."""
    log = run_dir / "logs" / f"{name}.log"

    def started(_: int) -> bool:
        with log.open("rb") as found:
            found.seek(offset)
            return b'"event": "process started"' in found.read()

    _wait_until(started, 0, proc, timeout, run_dir, name)


def wait_serving(port: int, proc: subprocess.Popen[bytes] | None, timeout: float, run_dir: Path, name: str) -> None:
    """Wait until the process answers grpc.health.v1 with SERVING (not merely listening)."""
    _wait_until(_grpc_serving, port, proc, timeout, run_dir, name)


def wait_http(port: int, proc: subprocess.Popen[bytes] | None, timeout: float, run_dir: Path, name: str) -> None:
    """Wait until the process answers GET /healthz with 200."""
    _wait_until(_http_healthy, port, proc, timeout, run_dir, name)


def stop_from_state(run_dir: Path, say: bool = True) -> bool:
    """Stop what a previous `up` started, from its stack.json (used by `make down`)."""
    path = run_dir / "stack.json"
    if not path.exists():
        _say(say, "nothing to stop: no stack.json in " + str(run_dir))
        return False
    state = StackState.load(run_dir)
    services = {k: v for k, v in state.pids.items() if not k.startswith("kafka-")}
    brokers = {k: v for k, v in state.pids.items() if k.startswith("kafka-")}
    for group in (services, brokers):
        for name, pid in group.items():
            if _alive(pid):
                _say(say, f"stopping {name} (pid {pid})")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in group.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in group.values():
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
    if state.postgres_port:
        _say(say, "stopping postgres")
        Postgres(run_dir, state.postgres_port).stop()
    path.unlink()
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as stopped.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"[stack] {message}", flush=True)
