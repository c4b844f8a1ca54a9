"""Kafka topic administration: create the v1 topics, describe them, check a broker answers.

A thin shell over kafka-python's `KafkaAdminClient`. Every Kafka failure that
means "the broker is not there or did not answer" becomes
`activitylog.errors.BrokerUnavailable` naming the bootstrap address, so the CLI
can print one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import kafka.errors as kafka_errors
from kafka import KafkaAdminClient
from kafka.admin import OffsetSpec
from kafka.structs import TopicPartition

from activitylog.errors import BrokerUnavailable, ConfigError

log = logging.getLogger(__name__)

# Error codes of the Kafka protocol that `ensure_topics` treats specially.
_TOPIC_ALREADY_EXISTS = kafka_errors.TopicAlreadyExistsError.errno
_INVALID_PARTITIONS = kafka_errors.InvalidPartitionsError.errno
_INVALID_REPLICATION_FACTOR = kafka_errors.InvalidReplicationFactorError.errno
_UNKNOWN_TOPIC = kafka_errors.UnknownTopicOrPartitionError.errno


@dataclass(frozen=True)
class TopicInfo:
    """What the broker says about one topic.

    `end_offsets[i]` is the offset the next record of partition i will get, so
    their sum is the number of records ever written (before retention).
    """

    name: str
    exists: bool
    partitions: int
    replication: int
    end_offsets: tuple[int, ...] = ()

    @property
    def records(self) -> int:
        """Records written to the topic so far (sum of the partitions' end offsets)."""
        return sum(self.end_offsets)


class _AdminClient(KafkaAdminClient):  # type: ignore[misc]  # kafka-python is untyped
    """`KafkaAdminClient` that stops its I/O thread when bootstrapping fails.

    kafka-python 3.0 starts a background I/O thread before it bootstraps, and a
    bootstrap failure raises out of `__init__` with that thread still running;
    a process that probes a missing broker in a loop would collect one thread
    per attempt.
    """

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            client = getattr(self, "_client", None)
            net = getattr(self, "_net", None)
            with contextlib.suppress(Exception):
                if client is not None:
                    client.close()
            with contextlib.suppress(Exception):
                if net is not None:
                    net.stop()
            raise


@contextlib.contextmanager
def _admin(bootstrap: str, timeout: float) -> Iterator[_AdminClient]:
    """An admin client bound to `bootstrap`, closed on exit; Kafka errors become ours."""
    timeout_ms = max(1, int(timeout * 1000))
    try:
        client = _AdminClient(
            bootstrap_servers=bootstrap,
            client_id="activitylog-admin",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            # Give up on a dead address quickly instead of backing off for 30 s.
            reconnect_backoff_max_ms=1000,
        )
    except (kafka_errors.KafkaError, OSError) as exc:
        raise BrokerUnavailable(
            f"Kafka at {bootstrap} did not answer within {timeout:g} s ({_reason(exc)}); "
            "is the broker running? (`activitylog stack up` starts a local one)"
        ) from exc
    try:
        yield client
    except (kafka_errors.KafkaError, OSError) as exc:
        raise BrokerUnavailable(f"Kafka at {bootstrap} failed a request: {_reason(exc)}") from exc
    finally:
        with contextlib.suppress(Exception):
            client.close()


def broker_answers(bootstrap: str, timeout: float = 3.0) -> bool:
    """Whether a broker at `bootstrap` answers a metadata request within `timeout` seconds.

    For polling (the launcher waits on it); never raises for an absent broker.
    When no bootstrap address accepts a TCP connection the answer is an
    immediate no, instead of kafka-python retrying until the timeout.
    """
    if not any(tcp_open(server, min(timeout, 2.0)) for server in bootstrap.split(",")):
        return False
    try:
        with _admin(bootstrap, timeout) as admin:
            admin.list_topics()
    except BrokerUnavailable as exc:
        log.debug("no answer from %s: %s", bootstrap, exc)
        return False
    return True


def tcp_open(server: str, timeout: float = 1.0) -> bool:
    """Whether `host:port` accepts a TCP connection within `timeout` seconds."""
    host, _, port = server.strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def ensure_topics(
    bootstrap: str,
    topics: Sequence[str],
    partitions: int,
    replication: int,
    timeout: float = 30,
) -> list[str]:
    """Create those of `topics` that do not exist yet; return the names created.

    Idempotent: a topic that already exists is left as it is (its partition
    count is not changed). Returns once the created topics have a leader for
    every partition, so a producer can write to them straight away.
    """
    if not topics:
        return []
    if partitions < 1:
        raise ConfigError("ACTIVITYLOG_TOPIC_PARTITIONS", f"{partitions} must be at least 1")
    if replication < 1:
        raise ConfigError("ACTIVITYLOG_TOPIC_REPLICATION", f"{replication} must be at least 1")
    request = {
        name: {"num_partitions": partitions, "replication_factor": replication} for name in topics
    }
    created: list[str] = []
    with _admin(bootstrap, timeout) as admin:
        # raise_errors=False: one result per topic, so "already exists" is not an error.
        response = admin.create_topics(request, timeout_ms=int(timeout * 1000), raise_errors=False)
        for result in response["topics"]:
            name, code = result["name"], result["error_code"]
            if code == 0:
                created.append(name)
            elif code == _TOPIC_ALREADY_EXISTS:
                continue
            else:
                raise _create_error(bootstrap, name, code, result.get("error_message"))
        if created:
            admin.wait_for_topics(created, timeout_ms=int(timeout * 1000))
    if created:
        log.info("created topics %s on %s", ", ".join(created), bootstrap)
    return created


def describe_topics(bootstrap: str, topics: Sequence[str], timeout: float = 30) -> list[TopicInfo]:
    """Partitions, replication and end offsets of `topics`, in the order asked.

    A topic the broker does not know comes back with `exists=False` rather than
    as an error, so a caller can report every missing topic at once.
    """
    if not topics:
        return []
    infos: list[TopicInfo] = []
    with _admin(bootstrap, timeout) as admin:
        by_name = {t["name"]: t for t in admin.describe_topics(list(topics))}
        partition_specs: dict[Any, Any] = {}
        for name in topics:
            topic = by_name.get(name)
            if topic is None or topic["error_code"] == _UNKNOWN_TOPIC:
                continue
            if topic["error_code"] != 0:
                raise BrokerUnavailable(
                    f"Kafka at {bootstrap} could not describe topic {name!r}: "
                    f"{kafka_errors.for_code(topic['error_code']).__name__}"
                )
            for p in topic["partitions"]:
                partition_specs[TopicPartition(name, p["partition_index"])] = OffsetSpec.LATEST
        offsets = (
            admin.list_partition_offsets(partition_specs, timeout_ms=int(timeout * 1000))
            if partition_specs
            else {}
        )
    for name in topics:
        topic = by_name.get(name)
        if topic is None or topic["error_code"] == _UNKNOWN_TOPIC:
            infos.append(TopicInfo(name=name, exists=False, partitions=0, replication=0))
            continue
        parts = sorted(topic["partitions"], key=lambda p: p["partition_index"])
        infos.append(
            TopicInfo(
                name=name,
                exists=True,
                partitions=len(parts),
                replication=max((len(p["replica_nodes"]) for p in parts), default=0),
                end_offsets=tuple(
                    offsets[TopicPartition(name, p["partition_index"])].offset for p in parts
                ),
            )
        )
    return infos


def _create_error(
    bootstrap: str, topic: str, code: int, message: str | None
) -> ConfigError | BrokerUnavailable:
    """The typed error for a topic the broker refused to create."""
    name = kafka_errors.for_code(code).__name__
    detail = f"{name}: {message}" if message else name
    if code == _INVALID_REPLICATION_FACTOR:
        return ConfigError(
            "ACTIVITYLOG_TOPIC_REPLICATION",
            f"Kafka at {bootstrap} refused topic {topic!r}: {detail}",
        )
    if code == _INVALID_PARTITIONS:
        return ConfigError(
            "ACTIVITYLOG_TOPIC_PARTITIONS",
            f"Kafka at {bootstrap} refused topic {topic!r}: {detail}",
        )
    return BrokerUnavailable(f"Kafka at {bootstrap} could not create topic {topic!r}: {detail}")


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for a Kafka client exception."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    # kafka-python's errors already start their text with the class name.
    if not text or text.startswith(name):
        return text or name
    return f"{name}: {text}"
