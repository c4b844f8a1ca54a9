"""The local Kafka cluster behind `activitylog stack up --brokers N` (N >= 2).

Same jars, same cache and same launcher as the single broker
(`activitylog.devstack.kafka.KafkaStack`, one per node); what this module adds
is the layout. Every node is broker and controller at once (combined mode):
three JVMs rather than six on a small machine, and killing a node still
exercises both a partition leader election and, for the active controller, a
quorum election. The quorum is static (`controller.quorum.voters`), so the
nodes are formatted with one shared cluster id and no bootstrap step.

Ports: node i listens on the i-th address of `ACTIVITYLOG_KAFKA_BOOTSTRAP`
when it lists N addresses, else on its port + i - 1 (9092, 9093, 9094); the
controller ports are chosen once. Both are remembered in
`<state dir>/kafka-cluster/cluster.json` with the cluster id; each node's
files are those of the single broker, under `node-<id>/`.

Topics: replication N capped at 3, `min.insync.replicas` from
`ACTIVITYLOG_TOPIC_MIN_INSYNC_REPLICAS` or one less than the replication, so
that one node may fail without refusing an `acks=all` write.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from activitylog.devstack.kafka import (
    ClusterNode,
    KafkaStack,
    StackStatus,
    host_port,
    new_cluster_id,
    parse_local_bootstrap,
)
from common.errors import BrokerUnavailable, ConfigError
from common.net import free_port, port_is_free
from common.settings import Settings
from producers.topics import ensure_topics
from schemas.topics import ALL_TOPICS

MAX_REPLICATION = 3
LAYOUT_FILE = "cluster.json"


@dataclass(frozen=True)
class ClusterLayout:
    """What stays fixed for the life of a cluster's state dir: ids, ports, shape."""

    cluster_id: str
    host: str
    ports: tuple[int, ...]
    controller_ports: tuple[int, ...]

    @property
    def brokers(self) -> int:
        return len(self.ports)

    @property
    def bootstrap(self) -> str:
        """Every node's address, comma-separated: a client reaches whichever is up."""
        return ",".join(host_port(self.host, port) for port in self.ports)

    def to_json(self) -> str:
        return json.dumps(
            {
                "cluster_id": self.cluster_id,
                "host": self.host,
                "ports": list(self.ports),
                "controller_ports": list(self.controller_ports),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ClusterLayout:
        data = json.loads(text)
        return cls(
            cluster_id=str(data["cluster_id"]),
            host=str(data["host"]),
            ports=tuple(int(p) for p in data["ports"]),
            controller_ports=tuple(int(p) for p in data["controller_ports"]),
        )


def cluster_replication(brokers: int) -> int:
    """The topics' replication factor on a local cluster of `brokers` nodes."""
    return min(brokers, MAX_REPLICATION)


def cluster_min_insync(replication: int, configured: int | None) -> int:
    """`min.insync.replicas`: the configured value, else one node may be down."""
    if configured is None:
        return max(1, replication - 1)
    if configured > replication:
        raise ConfigError(
            "ACTIVITYLOG_TOPIC_MIN_INSYNC_REPLICAS",
            f"{configured} is more than the replication factor {replication}: "
            "no write with acks=all could ever succeed",
        )
    return configured


def node_addresses(bootstrap: str, brokers: int) -> tuple[str, tuple[int, ...]]:
    """(host, ports) of `brokers` nodes from the configured bootstrap.

    N loopback addresses name the N nodes; one address is node 1, the others
    take the following ports.
    """
    if brokers < 2:
        raise ConfigError("--brokers", f"{brokers}: a cluster has at least 2 nodes")
    entries = [entry for entry in bootstrap.split(",") if entry.strip()]
    parsed = [parse_local_bootstrap(entry) for entry in entries]
    hosts = {host for host, _ in parsed}
    if len(hosts) != 1:
        raise ConfigError(
            "ACTIVITYLOG_KAFKA_BOOTSTRAP", f"{bootstrap!r}: a local cluster uses one host"
        )
    host = hosts.pop()
    if len(parsed) == 1:
        first = parsed[0][1]
        if first + brokers - 1 > 65535:
            raise ConfigError("ACTIVITYLOG_KAFKA_BOOTSTRAP", f"no room for {brokers} ports")
        return host, tuple(first + i for i in range(brokers))
    if len(parsed) != brokers:
        raise ConfigError(
            "ACTIVITYLOG_KAFKA_BOOTSTRAP",
            f"{bootstrap!r} lists {len(parsed)} addresses for {brokers} brokers; give one "
            "(the next ports are used) or one per broker",
        )
    ports = tuple(port for _, port in parsed)
    if len(set(ports)) != len(ports):
        raise ConfigError("ACTIVITYLOG_KAFKA_BOOTSTRAP", f"{bootstrap!r} repeats a port")
    return host, ports


class KafkaCluster:
    """Start, stop, inspect and fault the nodes of a local cluster in `state_dir/kafka-cluster`."""

    def __init__(self, settings: Settings, layout: ClusterLayout) -> None:
        self.settings = settings
        self.layout = layout
        self.root = cluster_root(settings)
        self.replication = cluster_replication(layout.brokers)
        self.min_insync = cluster_min_insync(self.replication, settings.topic_min_insync_replicas)
        voters = tuple(enumerate(layout.controller_ports, start=1))
        self.nodes = [
            KafkaStack(
                settings,
                node=ClusterNode(
                    node_id=node_id,
                    host=layout.host,
                    port=port,
                    controller_port=controller_port,
                    voters=voters,
                    cluster_id=layout.cluster_id,
                    replication=self.replication,
                    min_insync=self.min_insync,
                ),
                state_dir=self.root / f"node-{node_id}",
            )
            for node_id, (port, controller_port) in enumerate(
                zip(layout.ports, layout.controller_ports, strict=True), start=1
            )
        ]

    # ----------------------------------------------------------------- constructors

    @classmethod
    def existing(cls, settings: Settings) -> KafkaCluster | None:
        """The cluster whose layout is in the state dir, or None if there is none."""
        path = cluster_root(settings) / LAYOUT_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None
        try:
            layout = ClusterLayout.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                "ACTIVITYLOG_STATE_DIR",
                f"{path} is not a cluster layout ({exc!r}); delete {path.parent} to start afresh",
            ) from exc
        return cls(settings, layout)

    @classmethod
    def prepare(cls, settings: Settings, brokers: int) -> KafkaCluster:
        """The cluster of `brokers` nodes: the remembered layout, or a new one (not started)."""
        host, ports = node_addresses(settings.kafka_bootstrap, brokers)
        current = cls.existing(settings)
        if current is not None:
            if current.layout.brokers != brokers:
                raise ConfigError(
                    "--brokers",
                    f"the cluster in {current.root} has {current.layout.brokers} nodes, not "
                    f"{brokers}; `activitylog stack down` and delete {current.root} to make a "
                    "new one",
                )
            if current.running() or (current.layout.host, current.layout.ports) == (host, ports):
                return current
            # Stopped and asked for other ports: the data stays, the listeners move.
            layout = ClusterLayout(
                current.layout.cluster_id, host, ports, current.layout.controller_ports
            )
        else:
            taken = set(ports)
            controller_ports: list[int] = []
            while len(controller_ports) < brokers:
                port = free_port(host)
                if port not in taken:
                    taken.add(port)
                    controller_ports.append(port)
            layout = ClusterLayout(new_cluster_id(), host, ports, tuple(controller_ports))
        root = cluster_root(settings)
        root.mkdir(parents=True, exist_ok=True)
        (root / LAYOUT_FILE).write_text(layout.to_json() + "\n", encoding="utf-8")
        return cls(settings, layout)

    # ----------------------------------------------------------------- whole cluster

    @property
    def bootstrap(self) -> str:
        return self.layout.bootstrap

    def running(self) -> bool:
        return any(node.running_pid() is not None for node in self.nodes)

    def up(self, timeout: float = 180) -> list[StackStatus]:
        """Start the nodes that are not running, wait until all answer, create the topics."""
        # Every port checked before any node starts: no half-started cluster.
        for node in self.nodes:
            spec = node.node
            assert spec is not None
            if node.running_pid() is None and not port_is_free(spec.host, spec.port):
                raise BrokerUnavailable(
                    f"{host_port(spec.host, spec.port)} (node {spec.node_id}) is already in use "
                    "by another process; stop it, or set ACTIVITYLOG_KAFKA_BOOTSTRAP to free ports"
                )
        pids = []
        for node in self.nodes:
            pid = node.running_pid()
            if pid is None:
                assert node.node is not None
                pid = node.launch(node.node.host, node.node.port)
            pids.append(pid)
        deadline = time.monotonic() + timeout
        for node, pid in zip(self.nodes, pids, strict=True):
            node.wait_answering(max(1.0, deadline - time.monotonic()), pid)
        ensure_topics(
            self.bootstrap,
            ALL_TOPICS,
            self.settings.topic_partitions,
            self.replication,
            timeout=max(10.0, min(timeout, 60.0)),
            min_insync=self.min_insync,
        )
        return self.status()

    def down(self, timeout: float = 30) -> bool:
        """Stop every node (SIGTERM all at once, SIGKILL after `timeout`); whether any ran.

        All at once: stopped one by one, the last nodes would wait on a
        controller quorum that their stopped peers no longer form.
        """
        running = [node for node in self.nodes if node.running_pid() is not None]
        for node in running:
            node.send_signal(signal.SIGTERM)
        for node in running:
            node.down(timeout=timeout)
        return bool(running)

    def status(self) -> list[StackStatus]:
        """One status per node, in node order."""
        return [node.status() for node in self.nodes]

    # ----------------------------------------------------------------- one node

    def node(self, node_id: int) -> KafkaStack:
        if not 1 <= node_id <= len(self.nodes):
            raise ConfigError(
                "node", f"{node_id} is not a node of this {len(self.nodes)}-node cluster"
            )
        return self.nodes[node_id - 1]

    def kill_node(self, node_id: int, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send `sig` to one node and wait for it to exit; its pid."""
        pid = self.node(node_id).kill(sig)
        if pid is None:
            raise BrokerUnavailable(f"Kafka node {node_id} was not running")
        return pid

    def start_node(self, node_id: int, timeout: float = 180) -> None:
        """Start one stopped node on its own data and wait until it answers."""
        node = self.node(node_id)
        assert node.node is not None
        pid = node.launch(node.node.host, node.node.port)
        node.wait_answering(timeout, pid)

    def active_controller(self) -> int | None:
        """The node id of the active controller (the quorum leader), None if unknown.

        Read from the nodes' `quorum-state` files: Kafka tells a client a
        random broker as "the controller" in KRaft mode, and kafka-python has
        no DescribeQuorum. The highest leader epoch any node recorded wins.
        """
        best: tuple[int, int] | None = None
        for node in self.nodes:
            state = quorum_state(node.data_dir)
            if state is not None and (best is None or state[1] > best[1]):
                best = state
        return None if best is None else best[0]


def quorum_state(data_dir: Path) -> tuple[int, int] | None:
    """(leader id, leader epoch) from a node's KRaft `quorum-state` file, if it names a leader."""
    try:
        data = json.loads((data_dir / "__cluster_metadata-0" / "quorum-state").read_text())
    except (OSError, ValueError):
        return None
    leader = int(data.get("leaderId", -1))
    return None if leader < 0 else (leader, int(data.get("leaderEpoch", -1)))


def cluster_root(settings: Settings) -> Path:
    """Where the cluster's layout and its nodes' state live."""
    return (settings.state_dir / "kafka-cluster").absolute()
