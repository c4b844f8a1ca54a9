"""The local single-node Apache Kafka broker behind `activitylog stack up|down|status`.

Why not Docker: Kafka 4.x is published on Maven Central, so a JDK 17 and Maven
are enough to run a real broker (docs/components.md, Kafka 4.x). The jars are fetched once per
Kafka version into the cache dir (or taken from `$KAFKA_HOME/libs`), the
storage is formatted once for KRaft, and `java ... kafka.Kafka` runs detached,
its pid in `<state dir>/kafka/broker.pid`, so the broker outlives the CLI call
that started it. Integration tests start their broker through the same class.
Each node of a local cluster (`activitylog.devstack.cluster`) is one of these
too, given its `ClusterNode` and its own state dir.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common.errors import BrokerUnavailable, ConfigError
from common.kafka import broker_answers
from common.net import free_port, pid_alive, port_is_free, tcp_open
from common.settings import LOOPBACK_HOSTS, Settings
from producers.topics import ensure_topics
from schemas.topics import ALL_TOPICS

log = logging.getLogger(__name__)

PACKAGED_POM = Path(__file__).with_name("pom.xml")
PACKAGED_LOG4J2 = Path(__file__).with_name("log4j2.properties")
MIN_JAVA = 17
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
# The broker is a development convenience on a small machine (2 cores): a
# modest heap, the same as Kafka's own scripts default to, plus a floor.
BROKER_JVM_OPTS = ("-Xms256m", "-Xmx1g", "-Djava.awt.headless=true")
# A node of the local cluster: three JVMs share the machine, so each gets a
# third of the single broker's ceiling (ample for a development load).
CLUSTER_NODE_JVM_OPTS = ("-Xms128m", "-Xmx384m", "-Djava.awt.headless=true")
TOOL_JVM_OPTS = ("-Xmx256m", "-Djava.awt.headless=true")
POLL_INTERVAL = 0.25
NODE_PROBE_ATTEMPTS = 10
MVN_TIMEOUT = 1800.0
TOOL_TIMEOUT = 120.0
LOG_TAIL_LINES = 20
_BOOTSTRAP_NAME = "ACTIVITYLOG_KAFKA_BOOTSTRAP"
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-]*$")
_JAVA_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_MAVEN_BOILERPLATE = ("-e switch", "-X switch", "For more information", "[Help 1] http")


@dataclass(frozen=True)
class StackStatus:
    """What `activitylog stack status` reports about the local broker."""

    running: bool
    pid: int | None
    bootstrap: str
    state_dir: Path
    log_file: Path
    answering: bool

    def describe(self) -> str:
        """One line for a person, e.g. for the CLI."""
        if not self.running:
            return f"Kafka is not running (state {self.state_dir})"
        health = "answering" if self.answering else "NOT answering"
        return (
            f"Kafka is running (pid {self.pid}) on {self.bootstrap}, {health}; "
            f"state {self.state_dir}, log {self.log_file}"
        )


# --------------------------------------------------------------------------- pure parts


def parse_local_bootstrap(bootstrap: str) -> tuple[str, int]:
    """Split a local stack's bootstrap into (host, port); loopback only.

    The stack binds its listener there, so it must be one address on this
    machine, not a list and not a remote host. `[::1]:9092` is accepted; the
    host comes back without brackets.
    """
    text = bootstrap.strip()
    if "," in text:
        raise ConfigError(
            _BOOTSTRAP_NAME,
            f"{bootstrap!r} names several servers; a local stack listens on one HOST:PORT",
        )
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(_BOOTSTRAP_NAME, f"{bootstrap!r} is not HOST:PORT (e.g. 127.0.0.1:9092)")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ConfigError(_BOOTSTRAP_NAME, f"port {port} is outside 1..65535")
    if not (host in LOOPBACK_HOSTS or host.startswith("127.")):
        raise ConfigError(
            _BOOTSTRAP_NAME,
            f"{bootstrap!r} is not a loopback address; the local stack only listens on "
            "127.0.0.1, localhost or ::1 (point the bootstrap at a real cluster without "
            "`activitylog stack`)",
        )
    return host, port


def host_port(host: str, port: int) -> str:
    """`host:port`, with brackets around an IPv6 host as Kafka and URLs expect."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render_server_properties(
    *, host: str, port: int, controller_port: int, log_dir: Path, partitions: int
) -> str:
    """The `server.properties` of a single-node KRaft broker that is its own controller.

    Internal topics get replication factor 1 (there is one node), topics are
    never auto-created (the v1 topics are created explicitly with the right
    partition count, and a typo in a topic name should fail, not create one),
    and a consumer group starts without the 3 s rebalance delay.
    """
    plain = host_port(host, port)
    controller = host_port(host, controller_port)
    lines = [
        "# Written by `activitylog stack up` on every start; edits are overwritten.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers={controller}",
        *_listener_lines(plain, controller, log_dir, partitions),
        "default.replication.factor=1",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        # Two cores: Kafka's defaults (3 network, 8 I/O threads) only add contention.
        "num.network.threads=2",
        "num.io.threads=4",
        "num.recovery.threads.per.data.dir=1",
    ]
    return "\n".join(lines) + "\n"


def _listener_lines(plain: str, controller: str, log_dir: Path, partitions: int) -> list[str]:
    """The listeners, log dirs and partition count: the same on a single broker and a node."""
    return [
        f"listeners=PLAINTEXT://{plain},CONTROLLER://{controller}",
        f"advertised.listeners=PLAINTEXT://{plain}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={log_dir}",
        f"num.partitions={partitions}",
    ]


@dataclass(frozen=True)
class ClusterNode:
    """One node of the local cluster: its id, listeners, and the whole controller quorum.

    Every node is broker and controller at once (combined mode, see
    `activitylog.devstack.cluster`); `voters` maps each node id to its
    CONTROLLER port, the static quorum every node is configured with.
    """

    node_id: int
    host: str
    port: int
    controller_port: int
    voters: tuple[tuple[int, int], ...]
    cluster_id: str
    replication: int
    min_insync: int


def render_cluster_node_properties(node: ClusterNode, *, log_dir: Path, partitions: int) -> str:
    """The `server.properties` of one node of a local KRaft cluster (broker and controller).

    A static controller quorum (`controller.quorum.voters`) of every node; the
    internal topics and any topic created without an explicit shape get the
    cluster's replication and `min.insync.replicas`, as in production.
    """
    plain = host_port(node.host, node.port)
    controller = host_port(node.host, node.controller_port)
    voters = ",".join(f"{nid}@{host_port(node.host, cport)}" for nid, cport in node.voters)
    lines = [
        "# Written by `activitylog stack up --brokers N` on every start; edits are overwritten.",
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        f"controller.quorum.voters={voters}",
        *_listener_lines(plain, controller, log_dir, partitions),
        f"default.replication.factor={node.replication}",
        f"min.insync.replicas={node.min_insync}",
        "auto.create.topics.enable=false",
        "unclean.leader.election.enable=false",
        f"offsets.topic.replication.factor={node.replication}",
        f"transaction.state.log.replication.factor={node.replication}",
        f"transaction.state.log.min.isr={node.min_insync}",
        f"share.coordinator.state.topic.replication.factor={node.replication}",
        f"share.coordinator.state.topic.min.isr={node.min_insync}",
        "group.initial.rebalance.delay.ms=0",
        # Three nodes on two cores: one thread of each kind is enough for a dev load.
        "num.network.threads=1",
        "num.io.threads=2",
        "num.replica.fetchers=1",
        "num.recovery.threads.per.data.dir=1",
    ]
    return "\n".join(lines) + "\n"


def read_properties(text: str) -> dict[str, str]:
    """Parse the simple `key=value` lines of a Java properties file (no escapes)."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (22 characters).

    Generated here rather than by `StorageTool random-uuid` to save a JVM start.
    Like Kafka's `Uuid.randomUuid`, ids starting with '-' are avoided because
    they read as options on a command line.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def java_major_version(version_output: str) -> int | None:
    """The major version from `java -version` output (`1.8.0_x` is 8, `17.0.2` is 17)."""
    match = _JAVA_VERSION_RE.search(version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a text file, or '' if it does not exist yet."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def last_error(log_text: str) -> str:
    """The last ERROR line of a Kafka log and the exception line after it, if any.

    A fatal start-up error is followed by a Java stack trace; this pulls out
    the two lines that say what went wrong.
    """
    lines = log_text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if "] ERROR " in lines[i]:
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if following and not following.startswith("["):
                return f"{lines[i]}\n{following}"
            return lines[i]
    return ""


# --------------------------------------------------------------------------- the launcher


class KafkaStack:
    """Start, stop and inspect the local broker whose state lives in `settings.state_dir/kafka`.

    Files in the state dir: `broker.pid`, `controller.port` (chosen once: the
    formatted KRaft metadata records the controller's endpoint),
    `server.properties`, `broker.out` (the JVM's stdout/stderr), `logs/server.log`
    and `data/` (the log dirs).
    """

    def __init__(
        self, settings: Settings, node: ClusterNode | None = None, state_dir: Path | None = None
    ) -> None:
        self.settings = settings
        # A node of a local cluster (`activitylog.devstack.cluster`) rather than the single broker.
        self.node = node
        # Absolute: the broker runs with its own working directory.
        self.state_dir = (state_dir or settings.state_dir / "kafka").absolute()
        self.pid_file = self.state_dir / "broker.pid"
        self.controller_port_file = self.state_dir / "controller.port"
        self.properties_file = self.state_dir / "server.properties"
        self.stdout_file = self.state_dir / "broker.out"
        self.logs_dir = self.state_dir / "logs"
        self.log_file = self.logs_dir / "server.log"
        self.data_dir = self.state_dir / "data"
        self._lock_file = self.state_dir / ".lock"
        # The broker process when this object started it: lets us reap it, so a
        # stopped child is not mistaken for a running one (a zombie keeps its pid).
        self._proc: subprocess.Popen[bytes] | None = None

    # ----------------------------------------------------------------- public API

    def up(self, timeout: float = 120) -> StackStatus:
        """Start the broker unless it already runs, wait until it answers, create the v1 topics.

        Idempotent. `timeout` bounds the wait for the broker to answer; fetching
        the jars on the very first start is bounded separately (`MVN_TIMEOUT`).
        """
        host, port = parse_local_bootstrap(self.settings.kafka_bootstrap)
        bootstrap = host_port(host, port)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            pid = self._running_pid()
            if pid is not None:
                running_on = self._configured_bootstrap()
                if running_on is not None and running_on != bootstrap:
                    raise BrokerUnavailable(
                        f"the local broker (pid {pid}) already runs on {running_on}, not "
                        f"{bootstrap}; run `activitylog stack down` first to move it"
                    )
                self._wait_until_answering(bootstrap, pid, time.monotonic() + timeout)
            else:
                self._start(host, port, timeout)
            # The local stack is one node: replication above 1 cannot be satisfied.
            ensure_topics(
                bootstrap,
                ALL_TOPICS,
                self.settings.topic_partitions,
                1,
                timeout=max(10.0, min(timeout, 60.0)),
            )
        return self.status()

    def down(self, timeout: float = 30) -> bool:
        """Stop the broker: SIGTERM, then SIGKILL after `timeout` seconds.

        Returns whether a broker was running. Kafka shuts down cleanly on
        SIGTERM (flushes logs, so the next start needs no recovery).
        """
        if not self.state_dir.exists():
            return False
        with self._locked():
            pid = self._running_pid()
            if pid is None:
                self.pid_file.unlink(missing_ok=True)
                return False
            log.info("stopping Kafka broker pid %d", pid)
            self._signal(pid, signal.SIGTERM)
            if not self._wait_for_exit(pid, time.monotonic() + timeout):
                log.warning("Kafka broker pid %d ignored SIGTERM for %gs; killing it", pid, timeout)
                self._signal(pid, signal.SIGKILL)
                if not self._wait_for_exit(pid, time.monotonic() + 10):
                    raise BrokerUnavailable(f"Kafka broker pid {pid} did not exit after SIGKILL")
            self.pid_file.unlink(missing_ok=True)
            return True

    def status(self) -> StackStatus:
        """Whether our broker process runs and whether it answers a metadata request."""
        pid = self._running_pid()
        bootstrap = self._configured_bootstrap() if pid is not None else None
        if bootstrap is None:
            bootstrap = (
                self.settings.kafka_bootstrap
                if self.node is None
                else host_port(self.node.host, self.node.port)
            )
        answering = pid is not None and self._answers(bootstrap)
        return StackStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=bootstrap,
            state_dir=self.state_dir,
            log_file=self.log_file,
            answering=answering,
        )

    def _answers(self, bootstrap: str) -> bool:
        """Whether the broker answers a metadata request.

        A cluster node's admin client, once bootstrapped from this node, sends
        its request to any node the metadata lists, which may be a peer that
        is down and not yet fenced (up to 9 s): a refused connection fails the
        probe at once. A few quick attempts reach a live node.
        """
        attempts = 1 if self.node is None else NODE_PROBE_ATTEMPTS
        deadline = time.monotonic() + 3.0 * attempts
        for _ in range(attempts):
            if broker_answers(bootstrap, timeout=max(0.5, min(3.0, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL)
        return False

    def resolve_libs(self) -> Path:
        """The directory of broker jars: `$KAFKA_HOME/libs`, or the cache, filled once by Maven."""
        if self.settings.kafka_home is not None:
            return self._kafka_home_libs(self.settings.kafka_home)
        version = self.settings.kafka_version
        if not _VERSION_RE.match(version):
            raise ConfigError("ACTIVITYLOG_KAFKA_VERSION", f"{version!r} is not a version number")
        home = self.settings.cache_dir.expanduser().absolute() / f"kafka-{version}"
        libs = home / "libs"
        if _has_kafka_jars(libs):
            return libs
        self._fetch_jars(version, home)
        return libs

    def check_java(self) -> str:
        """The `java` executable, after checking it is Java 17 or newer."""
        java = shutil.which("java")
        if java is None:
            raise BrokerUnavailable(
                f"no `java` on PATH; the local Kafka broker needs Java {MIN_JAVA} or newer "
                "(e.g. `apt-get install openjdk-17-jre-headless`)"
            )
        try:
            out = subprocess.run(
                [java, "-version"], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BrokerUnavailable(f"could not run `{java} -version`: {exc}") from exc
        text = out.stderr + out.stdout
        major = java_major_version(text)
        if major is None or major < MIN_JAVA:
            first = text.strip().splitlines()[0] if text.strip() else "no output"
            raise BrokerUnavailable(
                f"{java} is not Java {MIN_JAVA} or newer ({first}); Kafka 4 needs Java {MIN_JAVA}+"
            )
        return java

    # ----------------------------------------------------------------- starting

    def _start(self, host: str, port: int, timeout: float) -> None:
        """Prepare the state dir, start the JVM and wait until it answers."""
        pid = self.launch(host, port)
        self._wait_or_kill(host_port(host, port), pid, timeout)

    def launch(self, host: str, port: int) -> int:
        """Prepare the state dir and start the JVM, without waiting; return its pid.

        A cluster's nodes are launched together: none answers before a
        majority of the controller quorum runs.
        """
        bootstrap = host_port(host, port)
        self.pid_file.unlink(missing_ok=True)
        if not port_is_free(host, port):
            raise BrokerUnavailable(
                f"{bootstrap} is already in use by another process (not the broker of "
                f"{self.state_dir}); stop it, or set {_BOOTSTRAP_NAME} to a free port"
            )
        java = self.check_java()
        libs = self.resolve_libs()
        controller_port = self._controller_port(host, port)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        partitions = self.settings.topic_partitions
        self.properties_file.write_text(
            render_server_properties(
                host=host,
                port=port,
                controller_port=controller_port,
                log_dir=self.data_dir,
                partitions=partitions,
            )
            if self.node is None
            else render_cluster_node_properties(
                self.node, log_dir=self.data_dir, partitions=partitions
            ),
            encoding="utf-8",
        )
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(java, libs)

        cmd = [
            java,
            *(BROKER_JVM_OPTS if self.node is None else CLUSTER_NODE_JVM_OPTS),
            *self._logging_opts(),
            "-cp",
            f"{libs}/*",  # expanded by java itself, not by a shell
            BROKER_MAIN,
            str(self.properties_file),
        ]
        log.info("starting Kafka broker on %s (log %s)", bootstrap, self.log_file)
        with self.stdout_file.open("wb") as out:
            # A new session: Ctrl-C in the terminal that ran `stack up` must not
            # reach the broker, which is meant to outlive that command.
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.state_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        pid = self._proc.pid
        _write_atomically(self.pid_file, f"{pid}\n")
        return pid

    def _wait_or_kill(self, bootstrap: str, pid: int, timeout: float) -> None:
        """Wait until the broker answers; on failure kill it and forget its pid."""
        try:
            self._wait_until_answering(bootstrap, pid, time.monotonic() + timeout)
        except BrokerUnavailable:
            # Leave no half-started broker behind holding the ports.
            if self._alive(pid):
                self._signal(pid, signal.SIGKILL)
                self._wait_for_exit(pid, time.monotonic() + 10)
            self.pid_file.unlink(missing_ok=True)
            raise

    def _wait_until_answering(self, bootstrap: str, pid: int, deadline: float) -> None:
        """Poll until the broker answers a metadata request; fail if it exits or time runs out."""
        host, port = parse_local_bootstrap(bootstrap)
        while True:
            if not self._alive(pid):
                code = self._proc.returncode if self._proc and self._proc.pid == pid else None
                how = f"exited with code {code}" if code is not None else "exited"
                raise BrokerUnavailable(self._failure(f"the Kafka broker (pid {pid}) {how}"))
            remaining = deadline - time.monotonic()
            # TCP first: cheap and silent while the JVM is still starting; the
            # metadata request then proves the broker really serves clients.
            if tcp_open(f"{host}:{port}", 0.5) and broker_answers(
                bootstrap, timeout=max(1.0, min(5.0, remaining))
            ):
                return
            if time.monotonic() >= deadline:
                raise BrokerUnavailable(
                    self._failure(f"the Kafka broker (pid {pid}) did not answer on {bootstrap}")
                )
            time.sleep(POLL_INTERVAL)

    def _format_storage(self, java: str, libs: Path) -> None:
        """Format the KRaft storage once, as a standalone controller quorum of one."""
        cmd = [
            java,
            *TOOL_JVM_OPTS,
            *self._logging_opts(),
            "-cp",
            f"{libs}/*",
            STORAGE_TOOL_MAIN,
            "format",
            # A cluster's nodes share one id and list their quorum in
            # `controller.quorum.voters`; the single broker is a quorum of one.
            *(["--standalone", "-t", new_cluster_id()] if self.node is None else []),
            *(["-t", self.node.cluster_id] if self.node is not None else []),
            "-c",
            str(self.properties_file),
        ]
        try:
            result = subprocess.run(
                cmd,
                cwd=self.state_dir,
                capture_output=True,
                text=True,
                timeout=TOOL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise BrokerUnavailable(
                f"formatting Kafka storage in {self.data_dir} failed: {exc}"
            ) from exc
        if result.returncode != 0:
            # A half-formatted dir would make every later format refuse to run.
            shutil.rmtree(self.data_dir, ignore_errors=True)
            output = _last_lines(result.stdout + result.stderr)
            raise BrokerUnavailable(
                f"formatting Kafka storage in {self.data_dir} failed "
                f"(exit {result.returncode}):\n{output}"
            )

    def _logging_opts(self) -> list[str]:
        """JVM options that send the broker's log4j2 output to `logs/server.log`."""
        return [
            f"-Dlog4j2.configurationFile={PACKAGED_LOG4J2}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            # log4j's own shutdown hook would stop logging while Kafka's hook is
            # still shutting down, losing the last lines; the file appender
            # flushes every line, so nothing is lost without it.
            "-Dlog4j2.shutdownHookEnabled=false",
        ]

    def _controller_port(self, host: str, port: int) -> int:
        """The CONTROLLER listener's port: chosen once, then read back from the state dir."""
        if self.node is not None:
            return self._cluster_controller_port(host, self.node.controller_port)
        try:
            remembered = int(self.controller_port_file.read_text().strip())
        except (OSError, ValueError):
            remembered = None
        if remembered is not None:
            if remembered == port or not port_is_free(host, remembered):
                raise BrokerUnavailable(
                    f"the broker's controller port {remembered} (remembered in "
                    f"{self.controller_port_file}, and recorded in the formatted storage) is "
                    f"in use; free it, or delete {self.state_dir} to start a fresh broker"
                )
            return remembered
        chosen = free_port(host)
        while chosen == port:
            chosen = free_port(host)
        _write_atomically(self.controller_port_file, f"{chosen}\n")
        return chosen

    def _cluster_controller_port(self, host: str, controller_port: int) -> int:
        """A cluster node's CONTROLLER port (chosen by the cluster), checked to be free."""
        if not port_is_free(host, controller_port):
            raise BrokerUnavailable(
                f"the controller port {controller_port} of node {self.node_id} is in use; free "
                f"it, or delete {self.state_dir.parent} to start a fresh cluster"
            )
        return controller_port

    @property
    def node_id(self) -> int:
        """This broker's `node.id` (the single broker is node 1)."""
        return 1 if self.node is None else self.node.node_id

    def running_pid(self) -> int | None:
        """The broker's pid if it runs (public for fault injection: kill -9 a node)."""
        return self._running_pid()

    def wait_answering(self, timeout: float, pid: int | None = None) -> None:
        """Wait until the broker `pid` (from `launch`) answers; kill it if it does not.

        Pass the pid `launch` returned: until the child has exec'ed java, its
        command line is not yet the broker's.
        """
        pid = pid if pid is not None else self._running_pid()
        if pid is None:
            raise BrokerUnavailable(self._failure(f"node {self.node_id} is not running"))
        self._wait_or_kill(self._configured_bootstrap() or "", pid, timeout)

    def send_signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the broker if it runs, without waiting."""
        pid = self._running_pid()
        if pid is not None:
            self._signal(pid, sig)

    def kill(self, sig: signal.Signals = signal.SIGKILL, timeout: float = 30) -> int | None:
        """Send `sig` to the broker and wait for it to exit; the pid it had, or None."""
        pid = self._running_pid()
        if pid is None:
            return None
        self._signal(pid, sig)
        if not self._wait_for_exit(pid, time.monotonic() + timeout):
            raise BrokerUnavailable(f"Kafka node {self.node_id} (pid {pid}) ignored {sig.name}")
        self.pid_file.unlink(missing_ok=True)
        return pid

    # ----------------------------------------------------------------- jars

    @staticmethod
    def _kafka_home_libs(kafka_home: Path) -> Path:
        """`$KAFKA_HOME/libs`, checked to hold a Kafka broker."""
        libs = kafka_home.expanduser() / "libs"
        if not libs.is_dir():
            raise ConfigError(
                "KAFKA_HOME",
                f"{kafka_home} has no libs/ directory; point KAFKA_HOME at an unpacked Apache "
                "Kafka 4.x (kafka_2.13-4.x) or unset it to fetch the jars from Maven Central",
            )
        if not _has_kafka_jars(libs):
            raise ConfigError(
                "KAFKA_HOME",
                f"{libs} holds no kafka_*.jar; point KAFKA_HOME at an unpacked Apache Kafka 4.x",
            )
        return libs.absolute()

    def _fetch_jars(self, version: str, home: Path) -> None:
        """Fill `home/libs` with the broker's jars from Maven Central, all or nothing.

        Maven writes into a temporary sibling that is renamed into place only
        when complete, so an interrupted download never counts as a cache hit
        and two processes filling the cache at once cannot mix their files.
        """
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerUnavailable(
                "no `mvn` on PATH; Maven fetches the Kafka broker's jars from Maven Central "
                "(e.g. `apt-get install maven`), or set KAFKA_HOME to an unpacked Apache Kafka"
            )
        home.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{home.name}.partial-", dir=home.parent))
        try:
            shutil.copyfile(PACKAGED_POM, partial / "pom.xml")
            cmd = [
                mvn,
                "-q",
                "-B",
                "-Dstyle.color=never",
                "-f",
                str(partial / "pom.xml"),
                "dependency:copy-dependencies",
                f"-Dkafka.version={version}",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={partial / 'libs'}",
            ]
            log.info("fetching Kafka %s jars with Maven into %s", version, home)
            try:
                result = subprocess.run(
                    cmd,
                    cwd=partial,
                    capture_output=True,
                    text=True,
                    timeout=MVN_TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise BrokerUnavailable(
                    f"fetching Kafka {version} jars with Maven failed: {exc}"
                ) from exc
            if result.returncode != 0 or not _has_kafka_jars(partial / "libs"):
                output = _maven_errors(result.stdout + result.stderr)
                raise BrokerUnavailable(
                    f"fetching Kafka {version} jars with Maven failed (exit {result.returncode}; "
                    f"`mvn dependency:copy-dependencies` on {PACKAGED_POM}):\n{output}"
                )
            partial.chmod(0o755)  # mkdtemp makes it private; a jar cache need not be
            if home.exists() and not _has_kafka_jars(home / "libs"):
                shutil.rmtree(home)  # a cache dir someone emptied by hand
            try:
                partial.rename(home)
            except OSError:
                if not _has_kafka_jars(home / "libs"):
                    raise
                # Another process filled the cache first; its copy is as good as ours.
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    # ----------------------------------------------------------------- processes

    def _running_pid(self) -> int | None:
        """The pid in the pid file if that process is alive and is our broker."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid <= 0 or not self._alive(pid) or not self._is_our_broker(pid):
            return None
        return pid

    def _alive(self, pid: int) -> bool:
        """Whether `pid` is a live process (a zombie is not; our own child gets reaped)."""
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        if not pid_alive(pid):
            return False
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True  # no /proc (not Linux): kill(0) is all we know
        return stat.rpartition(")")[2].split()[:1] != ["Z"]

    def _is_our_broker(self, pid: int) -> bool:
        """Whether `pid` runs kafka.Kafka with this state dir's server.properties.

        Guards against a stale pid file whose pid now belongs to something else.
        """
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return False
        except OSError:
            return True  # no /proc (not Linux): trust the pid file
        return BROKER_MAIN.encode() in argv and str(self.properties_file).encode() in argv

    def _wait_for_exit(self, pid: int, deadline: float) -> bool:
        """Poll until `pid` has exited; False if it still runs at the deadline."""
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def _configured_bootstrap(self) -> str | None:
        """The address the broker was started on, from its server.properties."""
        try:
            props = read_properties(self.properties_file.read_text(encoding="utf-8"))
        except OSError:
            return None
        listener = props.get("advertised.listeners", "")
        prefix = "PLAINTEXT://"
        return listener[len(prefix) :] if listener.startswith(prefix) else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize up/down on one state dir across processes (two `stack up` at once)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._lock_file.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _failure(self, what: str) -> str:
        """An error message naming the log file and quoting its last lines."""
        parts = [f"{what}; see {self.log_file}"]
        if cause := last_error(tail(self.log_file, 400)):
            parts.append(f"cause: {cause}")
        server_tail = tail(self.log_file)
        if server_tail:
            parts.append(f"last lines of {self.log_file}:\n{server_tail}")
        out_tail = tail(self.stdout_file)
        if out_tail:
            parts.append(f"last lines of {self.stdout_file}:\n{out_tail}")
        return "\n".join(parts)


def _has_kafka_jars(libs: Path) -> bool:
    """Whether `libs` holds a Kafka broker (the kafka_2.13 core jar is the marker)."""
    return libs.is_dir() and any(libs.glob("kafka_*.jar"))


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _last_lines(output: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a tool's output, without terminal colour codes."""
    return "\n".join(_ANSI_RE.sub("", output).strip().splitlines()[-lines:])


def _maven_errors(output: str) -> str:
    """Maven's own error lines if it printed any, else its last lines.

    Maven ends every failure with the same advice (re-run with -e/-X, help
    links); the line that says what went wrong comes before it.
    """
    clean = _ANSI_RE.sub("", output)
    errors = [
        line
        for line in clean.splitlines()
        if line.startswith("[ERROR]")
        and line.strip() != "[ERROR]"
        and not any(noise in line for noise in _MAVEN_BOILERPLATE)
    ]
    return "\n".join(errors[-LOG_TAIL_LINES:]) if errors else _last_lines(clean)
