"""Per-destination delivery metrics (served on `/metrics` by the API process).

Their names are a contract (`schemas/destinations.py`): the API reads them back
for the page when the agent runs in its process.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from schemas.destinations import (
    DELIVERED_METRIC,
    FAILED_METRIC,
    FAILING_METRIC,
    LAST_SUCCESS_METRIC,
    PARKED_METRIC,
    PENDING_METRIC,
    RETRYING_METRIC,
)

_LABELS = ["destination", "partner"]

DELIVERED = Counter(DELIVERED_METRIC, "Activities delivered to a destination", _LABELS)
FAILED_REQUESTS = Counter(FAILED_METRIC, "Delivery requests that failed", _LABELS)
PARKED = Counter(PARKED_METRIC, "Activities parked on a destination's dead-letter topic", _LABELS)
RETRYING = Gauge(RETRYING_METRIC, "Activities in a request being retried", _LABELS)
PENDING = Gauge(PENDING_METRIC, "Activities waiting for a destination", _LABELS)
FAILING = Gauge(FAILING_METRIC, "1 while a destination is failing", _LABELS)
LAST_SUCCESS = Gauge(
    LAST_SUCCESS_METRIC, "When a destination last accepted a request (Unix time)", _LABELS
)
LAG = Gauge(
    "activitylog_delivery_consumer_lag",
    "Source messages not yet consumed by the delivery agent, per partition",
    ["topic", "partition"],
)
