"""Prometheus metrics of the worker (served on `/metrics` by the API process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter("activitylog_events_consumed_total", "Kafka messages consumed", ["topic"])
EVENTS_STORED = Counter(
    "activitylog_events_stored_total", "Activity rows inserted into ClickHouse", ["topic"]
)
EVENTS_DEAD_LETTERED = Counter(
    "activitylog_events_dead_lettered_total",
    "Messages forwarded to the dead-letter topic",
    ["topic", "error_class"],
)
INSERT_FAILURES = Counter(
    "activitylog_insert_failures_total", "Failed ClickHouse insert attempts (each retried)"
)
BATCH_SIZE = Histogram(
    "activitylog_batch_size",
    "Messages per processed batch",
    buckets=(1, 10, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000),
)
INSERT_SECONDS = Histogram(
    "activitylog_insert_seconds",
    "Duration of one columnar insert",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge(
    "activitylog_consumer_lag", "Messages not yet consumed, per partition", ["topic", "partition"]
)
