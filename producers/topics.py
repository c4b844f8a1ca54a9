"""Kafka topic administration: create the v1 topics and describe them.

Through `common.kafka.admin_client`, which turns "the broker is not there or
did not answer" into `BrokerUnavailable`; this module adds the per-topic
answers: a refused creation names the setting to change (partitions,
replication), a topic the broker does not know is reported, not raised.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import kafka.errors as kafka_errors
from kafka.admin import OffsetSpec
from kafka.structs import TopicPartition

from common.errors import BrokerUnavailable, ConfigError
from common.kafka import admin_client
from schemas.topics import TOPIC_CONFIGS

log = logging.getLogger(__name__)

# Error codes of the Kafka protocol that `ensure_topics` treats specially.
_TOPIC_ALREADY_EXISTS = kafka_errors.TopicAlreadyExistsError.errno
_INVALID_PARTITIONS = kafka_errors.InvalidPartitionsError.errno
_INVALID_REPLICATION_FACTOR = kafka_errors.InvalidReplicationFactorError.errno
_UNKNOWN_TOPIC = kafka_errors.UnknownTopicOrPartitionError.errno
# The setting to change when the broker refuses a topic's shape.
_SETTING_REFUSED = {
    _INVALID_PARTITIONS: "ACTIVITYLOG_TOPIC_PARTITIONS",
    _INVALID_REPLICATION_FACTOR: "ACTIVITYLOG_TOPIC_REPLICATION",
}


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


def ensure_topics(
    bootstrap: str,
    topics: Sequence[str],
    partitions: int,
    replication: int,
    timeout: float = 30,
    min_insync: int | None = None,
) -> list[str]:
    """Create those of `topics` that do not exist yet; return the names created.

    Idempotent: a topic that already exists is left as it is (its partition
    count is not changed). `min_insync` sets the created topics'
    `min.insync.replicas` (None: the broker's default); a topic listed in
    `schemas.topics.TOPIC_CONFIGS` gets its settings too. Returns once the
    created topics have a leader for every partition, so a producer can write
    to them straight away.
    """
    if not topics:
        return []
    if partitions < 1:
        raise ConfigError("ACTIVITYLOG_TOPIC_PARTITIONS", f"{partitions} must be at least 1")
    if replication < 1:
        raise ConfigError("ACTIVITYLOG_TOPIC_REPLICATION", f"{replication} must be at least 1")
    if min_insync is not None and not 1 <= min_insync <= replication:
        raise ConfigError(
            "ACTIVITYLOG_TOPIC_MIN_INSYNC_REPLICAS",
            f"{min_insync} must be between 1 and the replication factor {replication}",
        )
    configs = {} if min_insync is None else {"min.insync.replicas": str(min_insync)}
    request = {
        name: {
            "num_partitions": partitions,
            "replication_factor": replication,
            "configs": configs | dict(TOPIC_CONFIGS.get(name, {})),
        }
        for name in topics
    }
    created: list[str] = []
    with admin_client(bootstrap, timeout) as admin:
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
    with admin_client(bootstrap, timeout) as admin:
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
    setting = _SETTING_REFUSED.get(code)
    if setting is not None:
        return ConfigError(setting, f"Kafka at {bootstrap} refused topic {topic!r}: {detail}")
    return BrokerUnavailable(f"Kafka at {bootstrap} could not create topic {topic!r}: {detail}")
