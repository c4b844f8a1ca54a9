"""Per-destination delivery metrics (served on `/metrics` by the API process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

_LABELS = ["destination", "partner"]

DELIVERED = Counter(
    "activitylog_delivery_delivered_total", "Activities delivered to a destination", _LABELS
)
FAILED_REQUESTS = Counter(
    "activitylog_delivery_failed_requests_total", "Delivery requests that failed", _LABELS
)
PARKED = Counter(
    "activitylog_delivery_parked_total",
    "Activities parked on a destination's dead-letter topic",
    _LABELS,
)
RETRYING = Gauge("activitylog_delivery_retrying", "Activities in a request being retried", _LABELS)
PENDING = Gauge("activitylog_delivery_pending", "Activities waiting for a destination", _LABELS)
FAILING = Gauge("activitylog_delivery_failing", "1 while a destination is failing", _LABELS)
LAST_SUCCESS = Gauge(
    "activitylog_delivery_last_success_timestamp_seconds",
    "When a destination last accepted a request (Unix time)",
    _LABELS,
)
LAG = Gauge(
    "activitylog_delivery_consumer_lag",
    "Source messages not yet consumed by the delivery agent, per partition",
    ["topic", "partition"],
)
