"""`KeyCachingPartitioner`: kafka-python's key -> partition mapping, computed once per key.

kafka-python hashes every key with a pure-Python murmur2 and copies the
topic's partition set on every `send()`; with one customer id per event and a
few thousand customers, almost all of that work repeats. This partitioner
gives exactly the partition the default one would (the Java client's
`murmur2(key) & 0x7fffffff % partitions`, so events land where every other
Kafka client would put them) and remembers it per (topic, key). It is plugged
in through kafka-python's public `partitioner=` option.

A change in a topic's partition count (seen on a metadata update) drops that
topic's cache, so keys move exactly when the default partitioner would move
them.
"""

from __future__ import annotations

import random
from typing import Any

from kafka.partitioner.abc import Partitioner
from kafka.partitioner.default import murmur2

# Past this many cached keys in one topic the cache restarts: memory stays
# bounded (about 100 bytes a key) whatever the number of customers.
MAX_CACHED_KEYS = 1_000_000


def default_partition(serialized_key: bytes, partitions: int) -> int:
    """The partition kafka-python's `DefaultPartitioner` (and the Java client) pick for a key."""
    return int(murmur2(serialized_key) & 0x7FFFFFFF) % partitions


class KeyCachingPartitioner(Partitioner):  # type: ignore[misc]  # kafka-python is untyped
    """Murmur2 partitioning with a per-(topic, key) cache; same answers as the default."""

    def __init__(self, max_cached_keys: int = MAX_CACHED_KEYS) -> None:
        self._max = max_cached_keys
        # topic -> {serialized key -> partition}
        self._cache: dict[str, dict[bytes, int]] = {}
        # topic -> sorted partition ids the cache was computed with
        self._partitions: dict[str, list[int]] = {}
        self._listening: set[int] = set()

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        """The partition of `serialized_key` in `topic` (random available one for no key)."""
        if serialized_key is not None:
            per_topic = self._cache.get(topic)
            if per_topic is not None:
                cached: int | None = per_topic.get(serialized_key)
                if cached is not None:
                    return cached
        return self._compute(topic, serialized_key, cluster)

    def _compute(self, topic: str, serialized_key: bytes | None, cluster: Any) -> int:
        if topic not in cluster.topics():
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        if id(cluster) not in self._listening:
            # Metadata updates run on kafka-python's I/O thread; a dict swap is atomic.
            cluster.add_listener(self._on_metadata_update)
            self._listening.add(id(cluster))
        parts: list[int] = sorted(cluster.partitions_for_topic(topic))
        if serialized_key is None:
            available = list(cluster.available_partitions_for_topic(topic))
            return int(random.choice(available or parts))
        partition = parts[default_partition(serialized_key, len(parts))]
        if self._partitions.get(topic) != parts:
            self._partitions[topic] = parts
            self._cache[topic] = {}
        per_topic = self._cache.setdefault(topic, {})
        if len(per_topic) >= self._max:
            per_topic = self._cache[topic] = {}
        per_topic[serialized_key] = partition
        return partition

    def _on_metadata_update(self, cluster: Any) -> None:
        """Forget the keys of any topic whose partitions changed."""
        for topic, parts in list(self._partitions.items()):
            now = cluster.partitions_for_topic(topic)
            if now is None or sorted(now) != parts:
                self._cache.pop(topic, None)
                self._partitions.pop(topic, None)
