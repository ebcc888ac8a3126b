"""Apache Kafka in KRaft mode from the official jars on Maven Central.

Maven resolves the broker's jars (deploy/local/kafka/pom.xml) into its local cache (~/.m2), never into the
repository; we ask it for the classpath and start `kafka.Kafka` with a generated server.properties. One node is
the default; `nodes=3` starts a three-node cluster (each node broker and controller) with replication factor 3 and
min.insync.replicas 2, which the reliability tests use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sotong_localstack.ports import free_ports

HERE = Path(__file__).resolve().parents[2]  # deploy/local
POM = HERE / "kafka" / "pom.xml"
LOG4J = HERE / "kafka" / "log4j2.properties"
CACHE = HERE.parents[1] / ".cache"


def kafka_version() -> str:
    text = POM.read_text()
    return text.split("<kafka.version>", 1)[1].split("</kafka.version>", 1)[0]


def classpath(progress: bool = True) -> str:
    """The broker classpath; Maven downloads the jars on first use and we cache its answer per pom content."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    cached = CACHE / f"kafka-classpath-{digest}.txt"
    if cached.exists():
        cp = cached.read_text().strip()
        if all(Path(p).exists() for p in cp.split(os.pathsep)):
            return cp
    CACHE.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"kafka: resolving Apache Kafka {kafka_version()} jars from Maven Central (first run only)", flush=True)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is not installed; it is needed to fetch Apache Kafka's jars")
    out = CACHE / f"kafka-classpath-{digest}.tmp"
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:build-classpath", f"-Dmdep.outputFile={out}"],
        check=True,
        stdout=subprocess.DEVNULL if not progress else None,
    )
    out.rename(cached)
    return cached.read_text().strip()


@dataclass
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class KafkaCluster:
    """A running (or stopped) local Kafka cluster under `run_dir`."""

    run_dir: Path
    nodes: list[KafkaNode] = field(default_factory=list)
    cluster_id: str = ""
    heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def replication(self) -> int:
        return min(3, len(self.nodes))

    @property
    def min_insync(self) -> int:
        return 2 if len(self.nodes) >= 3 else 1

    @classmethod
    def create(cls, run_dir: Path, nodes: int = 1) -> KafkaCluster:
        ports = free_ports(2 * nodes)
        cluster = cls(run_dir=run_dir, cluster_id=_cluster_id())
        for i in range(nodes):
            node_dir = run_dir / f"kafka-{i + 1}"
            cluster.nodes.append(
                KafkaNode(
                    node_id=i + 1,
                    port=ports[2 * i],
                    controller_port=ports[2 * i + 1],
                    data_dir=node_dir / "data",
                    log_file=node_dir / "broker.log",
                )
            )
        return cluster

    def properties(self, node: KafkaNode) -> str:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        rf, isr = self.replication, self.min_insync
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={node.node_id}",
                f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={node.data_dir}",
                "num.partitions=6",
                f"default.replication.factor={rf}",
                f"min.insync.replicas={isr}",
                f"offsets.topic.replication.factor={rf}",
                "offsets.topic.num.partitions=10",
                f"transaction.state.log.replication.factor={rf}",
                f"transaction.state.log.min.isr={isr}",
                "transaction.state.log.num.partitions=10",
                f"share.coordinator.state.topic.replication.factor={rf}",
                f"share.coordinator.state.topic.min.isr={isr}",
                "group.initial.rebalance.delay.ms=0",
                # Topics come from the catalog; a typo should fail, not create a topic nobody reads.
                "auto.create.topics.enable=false",
                "unclean.leader.election.enable=false",
                "log.segment.bytes=67108864",
                "",
            ]
        )

    def start(self, timeout: float = 90.0) -> None:
        cp = classpath()
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("Java is not installed; Apache Kafka needs Java 17 or newer")
        for node in self.nodes:
            node.data_dir.parent.mkdir(parents=True, exist_ok=True)
            config = node.data_dir.parent / "server.properties"
            config.write_text(self.properties(node))
            if not (node.data_dir / "meta.properties").exists():
                subprocess.run(
                    [
                        java,
                        *self._jvm_flags(),
                        "-cp",
                        cp,
                        "kafka.tools.StorageTool",
                        "format",
                        f"--cluster-id={self.cluster_id}",
                        "-c",
                        str(config),
                        "--ignore-formatted",
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                )
            self.start_node(node, cp, java)
        self.wait_ready(timeout)

    def _jvm_flags(self) -> list[str]:
        return [f"-Xmx{self.heap}", f"-Xms{self.heap}", f"-Dlog4j2.configurationFile={LOG4J}", "-XX:+UseG1GC"]

    def start_node(self, node: KafkaNode, cp: str | None = None, java: str | None = None) -> None:
        """Start one node's JVM (also used to restart a node a test killed)."""
        cp = cp or classpath(progress=False)
        java = java or shutil.which("java") or "java"
        config = node.data_dir.parent / "server.properties"
        log = open(node.log_file, "ab")  # noqa: SIM115 - handed to the child process
        node.process = subprocess.Popen(
            [java, *self._jvm_flags(), "-cp", cp, "kafka.Kafka", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        (node.data_dir.parent / "broker.pid").write_text(str(node.process.pid))

    def wait_ready(self, timeout: float = 90.0, expected: int | None = None) -> None:
        """Wait until every node is registered in the cluster metadata and serving, not merely listening."""
        from kafka import KafkaAdminClient

        want = expected if expected is not None else len(self.nodes)
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None and expected is None:
                    tail = node.log_file.read_text(errors="replace")[-3000:] if node.log_file.exists() else ""
                    raise RuntimeError(f"Kafka node {node.node_id} exited with {node.process.returncode}:\n{tail}")
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                try:
                    brokers = admin.describe_cluster()["brokers"]
                finally:
                    admin.close()
                if len(brokers) >= want:
                    return
            except Exception as exc:  # the broker is still starting: any error means "not yet"
                last_error = exc
            time.sleep(0.3)
        raise TimeoutError(f"Kafka at {self.bootstrap} not ready after {timeout:.0f}s: {last_error}")

    def kill_node(self, node: KafkaNode, sig: int = signal.SIGKILL) -> None:
        if node.process is not None and node.process.poll() is None:
            os.killpg(node.process.pid, sig)
            node.process.wait(timeout=60)

    def stop(self, timeout: float = 30.0) -> None:
        """Controlled shutdown (SIGTERM), then SIGKILL for a node that does not stop in time."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                os.killpg(node.process.pid, signal.SIGTERM)
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait()


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what `random-uuid` prints).

    Like Kafka's own Uuid.randomUuid, never one that starts with "-": a command line would read it as an option.
    """
    import base64

    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate
