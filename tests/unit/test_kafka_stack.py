"""The local broker launcher's pure parts: no broker, no Maven download, no network."""

from __future__ import annotations

import base64
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from activitylog.devstack.kafka import (
    KafkaStack,
    StackStatus,
    java_major_version,
    last_error,
    new_cluster_id,
    parse_local_bootstrap,
    read_properties,
    render_server_properties,
)
from common.errors import BrokerUnavailable, ConfigError
from common.kafka import broker_answers
from common.settings import Settings
from producers.topics import describe_topics, ensure_topics

# ---------------------------------------------------------------- server.properties


def _props(**overrides: object) -> dict[str, str]:
    args: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 9092,
        "controller_port": 9093,
        "log_dir": Path("/state/kafka/data"),
        "partitions": 2,
    }
    args.update(overrides)
    return read_properties(render_server_properties(**args))  # type: ignore[arg-type]


def test_server_properties_describe_a_single_node_kraft_broker_and_controller() -> None:
    props = _props()
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert props["log.dirs"] == "/state/kafka/data"
    # A quorum of one: ZooKeeper-era settings must not creep back in.
    assert "controller.quorum.voters" not in props
    assert not any(key.startswith("zookeeper.") for key in props)


def test_server_properties_give_internal_topics_one_replica_on_one_node() -> None:
    props = _props()
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
        "default.replication.factor",
    ):
        assert props[key] == "1", key


def test_server_properties_never_auto_create_topics_and_skip_the_rebalance_delay() -> None:
    props = _props(partitions=6)
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.partitions"] == "6"


def test_server_properties_bracket_an_ipv6_loopback_host() -> None:
    props = _props(host="::1")
    assert props["listeners"] == "PLAINTEXT://[::1]:9092,CONTROLLER://[::1]:9093"
    assert props["controller.quorum.bootstrap.servers"] == "[::1]:9093"


# ---------------------------------------------------------------- bootstrap


@pytest.mark.parametrize(
    ("bootstrap", "expected"),
    [
        ("127.0.0.1:9092", ("127.0.0.1", 9092)),
        (" 127.0.0.1:19092 ", ("127.0.0.1", 19092)),
        ("localhost:9092", ("localhost", 9092)),
        ("127.0.1.1:1", ("127.0.1.1", 1)),
        ("[::1]:9092", ("::1", 9092)),
    ],
)
def test_a_local_bootstrap_is_one_loopback_host_and_port(
    bootstrap: str, expected: tuple[str, int]
) -> None:
    assert parse_local_bootstrap(bootstrap) == expected


@pytest.mark.parametrize(
    ("bootstrap", "says"),
    [
        ("127.0.0.1:9092,127.0.0.1:9093", "several servers"),
        ("10.0.0.5:9092", "not a loopback"),
        ("kafka.internal:9092", "not a loopback"),
        ("127.0.0.1", "not HOST:PORT"),
        ("127.0.0.1:abc", "not HOST:PORT"),
        (":9092", "not HOST:PORT"),
        ("127.0.0.1:0", "outside 1..65535"),
        ("127.0.0.1:70000", "outside 1..65535"),
    ],
)
def test_a_bootstrap_the_local_stack_cannot_listen_on_is_a_config_error(
    bootstrap: str, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_local_bootstrap(bootstrap)
    assert err.value.name == "ACTIVITYLOG_KAFKA_BOOTSTRAP"
    assert says in err.value.reason


def test_up_refuses_a_port_held_by_something_that_is_not_our_broker(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        stack = KafkaStack(Settings(kafka_bootstrap=f"127.0.0.1:{port}", state_dir=tmp_path))
        with pytest.raises(BrokerUnavailable) as err:
            stack.up(timeout=5)
    assert f"127.0.0.1:{port} is already in use by another process" in err.value.message
    assert not stack.pid_file.exists()


# ---------------------------------------------------------------- jars and tools


def test_a_missing_kafka_home_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "kafka_2.13-4.1.1"
    stack = KafkaStack(Settings(kafka_home=missing, state_dir=tmp_path / "state"))
    with pytest.raises(ConfigError) as err:
        stack.resolve_libs()
    assert err.value.name == "KAFKA_HOME"
    assert str(missing) in err.value.reason
    assert "libs/" in err.value.reason


def test_a_kafka_home_without_kafka_jars_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs" / "slf4j-api-1.7.36.jar").write_bytes(b"")
    stack = KafkaStack(Settings(kafka_home=tmp_path, state_dir=tmp_path / "state"))
    with pytest.raises(ConfigError, match="no kafka_"):
        stack.resolve_libs()


def test_a_kafka_home_with_a_broker_is_used_without_maven(
    tmp_path: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(fake_bin))  # no mvn, no java: neither may be needed
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs" / "kafka_2.13-4.1.1.jar").write_bytes(b"")
    stack = KafkaStack(Settings(kafka_home=tmp_path, state_dir=tmp_path / "state"))
    assert stack.resolve_libs() == (tmp_path / "libs").absolute()


def test_without_maven_the_jar_fetch_says_what_to_install(
    tmp_path: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(fake_bin))
    stack = KafkaStack(Settings(cache_dir=tmp_path / "cache", state_dir=tmp_path / "state"))
    with pytest.raises(BrokerUnavailable, match="no `mvn` on PATH") as err:
        stack.resolve_libs()
    assert "KAFKA_HOME" in err.value.message


def test_a_failed_maven_run_reports_its_error_and_leaves_no_partial_cache(
    tmp_path: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(
        fake_bin / "mvn",
        "echo '[INFO] Scanning for projects...'\n"
        "echo '[ERROR] Could not find artifact org.apache.kafka:kafka_2.13:jar:9.9.9' >&2\n"
        "echo '[ERROR] ' >&2\n"
        "echo '[ERROR] To see the full stack trace of the errors, "
        "re-run Maven with the -e switch.'\n"
        "exit 1\n",
    )
    monkeypatch.setenv("PATH", str(fake_bin))
    cache = tmp_path / "cache"
    stack = KafkaStack(Settings(cache_dir=cache, kafka_version="9.9.9", state_dir=tmp_path / "s"))
    with pytest.raises(BrokerUnavailable) as err:
        stack.resolve_libs()
    assert "Could not find artifact org.apache.kafka:kafka_2.13:jar:9.9.9" in err.value.message
    assert "-e switch" not in err.value.message
    assert "exit 1" in err.value.message
    assert list(cache.iterdir()) == []


def test_jars_fetched_by_maven_are_renamed_into_the_cache_and_fetched_once(
    tmp_path: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "mvn-calls"
    _script(
        fake_bin / "mvn",
        # Mimic copy-dependencies: find -DoutputDirectory=..., put the jars there.
        f'echo "$@" >> {calls}\n'
        'for arg in "$@"; do case "$arg" in -DoutputDirectory=*) out="${arg#*=}";; esac; done\n'
        'mkdir -p "$out" && touch "$out/kafka_2.13-4.1.1.jar" "$out/kafka-clients-4.1.1.jar"\n',
    )
    # The system dirs too, for mkdir and touch; the fake mvn comes first.
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.defpath}")
    cache = tmp_path / "cache"
    stack = KafkaStack(Settings(cache_dir=cache, state_dir=tmp_path / "state"))

    libs = stack.resolve_libs()

    assert libs == cache.absolute() / "kafka-4.1.1" / "libs"
    assert sorted(p.name for p in libs.iterdir()) == [
        "kafka-clients-4.1.1.jar",
        "kafka_2.13-4.1.1.jar",
    ]
    assert [p.name for p in cache.iterdir()] == ["kafka-4.1.1"]  # no partial dir left
    assert stack.resolve_libs() == libs
    args = calls.read_text().splitlines()
    assert len(args) == 1  # the second call was a cache hit
    assert "dependency:copy-dependencies" in args[0]
    assert "-Dkafka.version=4.1.1" in args[0]


def test_an_unsafe_kafka_version_is_a_config_error(tmp_path: Path) -> None:
    stack = KafkaStack(Settings(cache_dir=tmp_path, kafka_version="../4.1.1", state_dir=tmp_path))
    with pytest.raises(ConfigError) as err:
        stack.resolve_libs()
    assert err.value.name == "ACTIVITYLOG_KAFKA_VERSION"


def test_java_older_than_17_is_refused_with_its_version(
    tmp_path: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(fake_bin / "java", "echo 'java version \"1.8.0_392\"' >&2\n")
    monkeypatch.setenv("PATH", str(fake_bin))
    with pytest.raises(BrokerUnavailable, match=r"Java 17 or newer \(java version \"1.8.0_392\"\)"):
        KafkaStack(Settings(state_dir=tmp_path)).check_java()


def test_without_java_the_error_says_what_to_install(
    tmp_path: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(fake_bin))
    with pytest.raises(BrokerUnavailable, match="no `java` on PATH"):
        KafkaStack(Settings(state_dir=tmp_path)).check_java()


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ("bash: java: command not found", None),
    ],
)
def test_java_major_version_reads_old_and_new_version_strings(
    output: str, major: int | None
) -> None:
    assert java_major_version(output) == major


# ---------------------------------------------------------------- ids, logs, status


def test_cluster_ids_are_base64url_16_byte_uuids_safe_on_a_command_line() -> None:
    ids = {new_cluster_id() for _ in range(500)}
    assert len(ids) == 500
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_last_error_finds_the_fatal_line_and_its_exception() -> None:
    log = (
        "[2026-01-01 10:00:00,000] INFO starting (kafka.Kafka$)\n"
        "[2026-01-01 10:00:01,000] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)\n"
        "java.lang.RuntimeException: Stored node id 2 doesn't match previous node id 1\n"
        "\tat org.apache.kafka.metadata.properties.MetaPropertiesEnsemble.verify(...)\n"
    )
    assert last_error(log) == (
        "[2026-01-01 10:00:01,000] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)\n"
        "java.lang.RuntimeException: Stored node id 2 doesn't match previous node id 1"
    )
    assert last_error("[2026-01-01 10:00:00,000] INFO all good (kafka.Kafka$)\n") == ""


def test_status_of_a_fresh_state_dir_is_not_running(tmp_path: Path) -> None:
    stack = KafkaStack(Settings(kafka_bootstrap="127.0.0.1:9", state_dir=tmp_path))
    status = stack.status()
    assert status == StackStatus(
        running=False,
        pid=None,
        bootstrap="127.0.0.1:9",
        state_dir=(tmp_path / "kafka").absolute(),
        log_file=(tmp_path / "kafka" / "logs" / "server.log").absolute(),
        answering=False,
    )
    assert "not running" in status.describe()


def test_a_stale_pid_file_naming_another_process_is_not_a_running_broker(tmp_path: Path) -> None:
    stack = KafkaStack(Settings(kafka_bootstrap="127.0.0.1:9", state_dir=tmp_path))
    stack.state_dir.mkdir(parents=True)
    stack.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not kafka.Kafka
    assert not stack.status().running
    assert stack.down() is False
    assert not stack.pid_file.exists()
    assert stack.down() is False


# ---------------------------------------------------------------- topic admin without a broker


def test_topic_admin_without_a_broker_raises_broker_unavailable_naming_the_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refuses
        assert broker_answers(closed, timeout=0.5) is False
        with pytest.raises(BrokerUnavailable, match=f"Kafka at {closed} did not answer"):
            ensure_topics(closed, ["t"], partitions=1, replication=1, timeout=0.5)
        with pytest.raises(BrokerUnavailable, match=f"Kafka at {closed}") as err:
            describe_topics(closed, ["t"], timeout=0.5)
    assert err.value.__cause__ is not None


def test_ensure_topics_rejects_impossible_counts_before_calling_kafka() -> None:
    with pytest.raises(ConfigError, match="ACTIVITYLOG_TOPIC_PARTITIONS"):
        ensure_topics("127.0.0.1:9", ["t"], partitions=0, replication=1)
    with pytest.raises(ConfigError, match="ACTIVITYLOG_TOPIC_REPLICATION"):
        ensure_topics("127.0.0.1:9", ["t"], partitions=1, replication=0)


# ---------------------------------------------------------------- helpers


@pytest.fixture
def fake_bin(tmp_path: Path) -> Iterator[Path]:
    """An empty directory to use as the whole PATH, for fake `mvn` and `java` scripts."""
    path = tmp_path / "bin"
    path.mkdir()
    yield path


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
