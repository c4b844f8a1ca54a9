"""The local cluster's pure parts: node addresses, its properties, its layout, the quorum file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activitylog.devstack.cluster import (
    ClusterLayout,
    KafkaCluster,
    cluster_min_insync,
    cluster_replication,
    node_addresses,
    quorum_state,
)
from activitylog.devstack.kafka import ClusterNode, read_properties, render_cluster_node_properties
from common.errors import ConfigError
from common.settings import Settings
from producers.topics import ensure_topics


def _node(node_id: int = 2) -> ClusterNode:
    return ClusterNode(
        node_id=node_id,
        host="127.0.0.1",
        port=9093,
        controller_port=40002,
        voters=((1, 40001), (2, 40002), (3, 40003)),
        cluster_id="AAAAAAAAAAAAAAAAAAAAAA",
        replication=3,
        min_insync=2,
    )


def test_a_cluster_node_is_broker_and_controller_of_a_static_quorum_of_all_nodes() -> None:
    props = read_properties(
        render_cluster_node_properties(_node(), log_dir=Path("/d"), partitions=4)
    )
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:40001,2@127.0.0.1:40002,3@127.0.0.1:40003"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:40002"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9093"
    assert "controller.quorum.bootstrap.servers" not in props
    assert props["log.dirs"] == "/d"
    assert props["num.partitions"] == "4"


def test_a_cluster_replicates_internal_topics_and_refuses_unclean_elections() -> None:
    props = read_properties(
        render_cluster_node_properties(_node(), log_dir=Path("/d"), partitions=2)
    )
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert props["auto.create.topics.enable"] == "false"


def test_one_bootstrap_address_gives_the_next_ports_to_the_other_nodes() -> None:
    assert node_addresses("127.0.0.1:9092", 3) == ("127.0.0.1", (9092, 9093, 9094))


def test_one_address_per_node_is_taken_as_given() -> None:
    assert node_addresses("127.0.0.1:9000,127.0.0.1:9100,127.0.0.1:9200", 3) == (
        "127.0.0.1",
        (9000, 9100, 9200),
    )


@pytest.mark.parametrize(
    ("bootstrap", "brokers", "names"),
    [
        ("127.0.0.1:9092,127.0.0.1:9093", 3, "lists 2 addresses for 3 brokers"),
        ("127.0.0.1:9092,localhost:9093,127.0.0.1:9094", 3, "one host"),
        ("127.0.0.1:9092,127.0.0.1:9092,127.0.0.1:9094", 3, "repeats a port"),
        ("10.0.0.1:9092", 3, "not a loopback address"),
        ("127.0.0.1:65535", 3, "no room for 3 ports"),
        ("127.0.0.1:9092", 1, "at least 2 nodes"),
    ],
)
def test_impossible_node_addresses_are_refused_with_the_reason(
    bootstrap: str, brokers: int, names: str
) -> None:
    with pytest.raises(ConfigError, match=names):
        node_addresses(bootstrap, brokers)


def test_replication_is_the_node_count_up_to_three_and_one_node_may_fail() -> None:
    assert [cluster_replication(n) for n in (2, 3, 5)] == [2, 3, 3]
    assert cluster_min_insync(3, None) == 2
    assert cluster_min_insync(2, None) == 1
    assert cluster_min_insync(3, 3) == 3
    with pytest.raises(ConfigError, match="ACTIVITYLOG_TOPIC_MIN_INSYNC_REPLICAS"):
        cluster_min_insync(3, 4)


def test_min_insync_above_the_replication_is_refused_before_calling_kafka() -> None:
    with pytest.raises(ConfigError, match="between 1 and the replication factor 1"):
        ensure_topics("127.0.0.1:9", ["t"], partitions=1, replication=1, min_insync=2)


def test_the_layout_is_remembered_and_a_different_node_count_refused(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:39092")
    first = KafkaCluster.prepare(settings, 3)
    assert first.bootstrap == "127.0.0.1:39092,127.0.0.1:39093,127.0.0.1:39094"
    assert len(set(first.layout.controller_ports) | set(first.layout.ports)) == 6
    again = KafkaCluster.prepare(settings, 3)
    assert again.layout == first.layout
    reread = KafkaCluster.existing(settings)
    assert reread is not None and reread.layout == first.layout
    assert ClusterLayout.from_json(first.layout.to_json()) == first.layout
    with pytest.raises(ConfigError, match="has 3 nodes, not 2"):
        KafkaCluster.prepare(settings, 2)
    assert [n.state_dir.name for n in first.nodes] == ["node-1", "node-2", "node-3"]
    assert first.min_insync == 2 and first.replication == 3


def test_the_active_controller_is_the_leader_of_the_highest_epoch(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:39092")
    cluster = KafkaCluster.prepare(settings, 3)
    assert cluster.active_controller() is None
    for node, (leader, epoch) in zip(cluster.nodes, [(1, 1), (3, 2), (-1, 3)], strict=True):
        meta = node.data_dir / "__cluster_metadata-0"
        meta.mkdir(parents=True)
        (meta / "quorum-state").write_text(json.dumps({"leaderId": leader, "leaderEpoch": epoch}))
    # Node 3 is between elections (no leader yet): the last known leader is node 3.
    assert quorum_state(cluster.nodes[2].data_dir) is None
    assert cluster.active_controller() == 3


def test_min_insync_replicas_is_read_from_its_variable_and_checked() -> None:
    assert Settings.from_env({}).topic_min_insync_replicas is None
    env = {"ACTIVITYLOG_TOPIC_MIN_INSYNC_REPLICAS": "2"}
    assert Settings.from_env(env).topic_min_insync_replicas == 2
    with pytest.raises(ConfigError, match="ACTIVITYLOG_TOPIC_MIN_INSYNC_REPLICAS"):
        Settings.from_env({"ACTIVITYLOG_TOPIC_MIN_INSYNC_REPLICAS": "0"})
