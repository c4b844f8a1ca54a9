"""`KeyCachingPartitioner` gives the partitions kafka-python's default partitioner gives."""

from __future__ import annotations

from typing import Any

from kafka.partitioner.default import DefaultPartitioner

from producers.partitioner import KeyCachingPartitioner, default_partition


class _Cluster:
    """The slice of kafka-python's ClusterMetadata a partitioner reads."""

    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions
        self.listeners: list[Any] = []
        self.lookups = 0

    def topics(self) -> set[str]:
        return set(self.partitions)

    def partitions_for_topic(self, topic: str) -> set[int]:
        self.lookups += 1
        return set(range(self.partitions[topic]))

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions_for_topic(topic)

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)


KEYS = [f"cust-{i}".encode() for i in range(500)] + ["société-生".encode(), b"", b"x" * 300]


def test_same_partition_as_the_default_partitioner_for_every_key() -> None:
    for count in (1, 2, 3, 12):
        cluster = _Cluster({"t": count})
        ours, default = KeyCachingPartitioner(), DefaultPartitioner()
        for key in KEYS:
            expected = default.partition("t", None, key, None, None, cluster)
            assert ours.partition("t", None, key, None, None, cluster) == expected
            # Second time from the cache, same answer.
            assert ours.partition("t", None, key, None, None, cluster) == expected


def test_a_cached_key_costs_no_metadata_lookup() -> None:
    cluster = _Cluster({"t": 4})
    partitioner = KeyCachingPartitioner()
    partitioner.partition("t", None, b"k", None, None, cluster)
    before = cluster.lookups
    for _ in range(100):
        partitioner.partition("t", None, b"k", None, None, cluster)
    assert cluster.lookups == before


def test_new_partitions_move_keys_like_the_default_partitioner() -> None:
    cluster = _Cluster({"t": 2})
    partitioner = KeyCachingPartitioner()
    first = {k: partitioner.partition("t", None, k, None, None, cluster) for k in KEYS}
    cluster.partitions["t"] = 7
    for listener in cluster.listeners:
        listener(cluster)
    after = {k: partitioner.partition("t", None, k, None, None, cluster) for k in KEYS}
    assert after == {k: default_partition(k, 7) for k in KEYS}
    assert after != first


def test_the_cache_stays_bounded() -> None:
    cluster = _Cluster({"t": 3})
    partitioner = KeyCachingPartitioner(max_cached_keys=10)
    for key in KEYS:
        assert partitioner.partition("t", None, key, None, None, cluster) == default_partition(
            key, 3
        )
    assert len(partitioner._cache["t"]) <= 10
