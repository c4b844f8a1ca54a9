"""`activitylog stack up --brokers 3` end to end: a real 3-node cluster through the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from kafka.admin import ConfigResource, ConfigResourceType

from activitylog.devstack.cluster import KafkaCluster
from common.kafka import admin_client
from common.net import free_port
from common.settings import Settings
from producers.topics import describe_topics
from schemas.topics import ALL_TOPICS


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "activitylog.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def test_a_three_node_cluster_starts_replicates_reports_each_node_and_stops(
    tmp_path: Path,
) -> None:
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in sorted(ports))
    env = dict(os.environ) | {
        "ACTIVITYLOG_KAFKA_BOOTSTRAP": bootstrap,
        "ACTIVITYLOG_STATE_DIR": str(tmp_path / "state"),
    }
    settings = Settings(kafka_bootstrap=bootstrap, state_dir=tmp_path / "state")
    try:
        up = _cli(env, "stack", "up", "--brokers", "3", "--timeout", "300")
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"Kafka cluster of 3 is up on {bootstrap}" in up.stdout, up.stdout

        status = _cli(env, "stack", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert [line.split(":")[0] for line in status.stdout.splitlines()] == [
            "node 1 on 127.0.0.1",
            "node 2 on 127.0.0.1",
            "node 3 on 127.0.0.1",
        ], status.stdout
        assert status.stdout.count(": running (pid") == 3, status.stdout

        # Idempotent: a second `up` finds the three nodes running and starts none.
        again = _cli(env, "stack", "up", "--brokers", "3")
        assert again.returncode == 0, again.stdout + again.stderr
        assert _cli(env, "stack", "status").stdout == status.stdout

        infos = describe_topics(bootstrap, ALL_TOPICS)
        assert [(i.exists, i.replication) for i in infos] == [(True, 3)] * len(ALL_TOPICS), infos
        with admin_client(bootstrap, 30) as admin:
            configs = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in ALL_TOPICS]
            )
        for name in ALL_TOPICS:
            value = _config_value(configs, name, "min.insync.replicas")
            assert value == "2", (name, configs)

        # Three addresses for two brokers, then a 2-node cluster where a 3-node one lives:
        # each refused in one line.
        mismatch = _cli(env, "stack", "up", "--brokers", "2")
        assert mismatch.returncode != 0
        assert "lists 3 addresses for 2 brokers" in mismatch.stderr, mismatch.stderr
        first_only = env | {"ACTIVITYLOG_KAFKA_BOOTSTRAP": bootstrap.split(",")[0]}
        other = _cli(first_only, "stack", "up", "--brokers", "2")
        assert other.returncode != 0
        assert "has 3 nodes, not 2" in other.stderr, other.stderr
        assert "Traceback" not in other.stdout + other.stderr + mismatch.stderr

        cluster = KafkaCluster.existing(settings)
        assert cluster is not None
        cluster.kill_node(2, signal.SIGKILL)
        degraded = _cli(env, "stack", "status")
        assert degraded.returncode == 1, degraded.stdout
        assert "node 2 on" in degraded.stdout and "not running" in degraded.stdout, degraded.stdout
        assert degraded.stdout.count(": running (pid") == 2, degraded.stdout

        down = _cli(env, "stack", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "Kafka cluster stopped" in down.stdout, down.stdout
        assert not cluster.running()
        assert _cli(env, "stack", "status").returncode == 1
    finally:
        leftover = KafkaCluster.existing(settings)
        if leftover is not None:
            leftover.down()


def _config_value(configs: object, topic: str, key: str) -> str | None:
    """A topic's config value from kafka-python's nested describe_configs answer."""
    found: list[str] = []

    def walk(node: object, inside: bool) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == key and inside:
                    found.append(str(v.get("value") if isinstance(v, dict) else v))
                walk(v, inside or k == topic)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item, inside)

    walk(configs, False)
    return found[0] if found else None
