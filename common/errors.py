"""Typed errors: each carries the reason a person needs to fix the problem.

The CLI turns them into one line and a non-zero exit; the API into
`{"error": {"code", "message"}}` with a 4xx. Tracebacks are for logs only.
"""

from __future__ import annotations


class ActivityLogError(Exception):
    """Base of every error this project raises on purpose."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ActivityLogError):
    """A setting (environment variable or option) has a value we cannot use."""

    code = "bad_config"
    exit_code = 2

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class InvalidEvent(ActivityLogError):
    """An event breaks the v1 contract: `field` names where, `rule` says how."""

    code = "invalid_event"

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}" if field else rule)
        self.field = field
        self.rule = rule


class BadQuery(ActivityLogError):
    """A query parameter is malformed or out of range."""

    code = "bad_request"
    exit_code = 2

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"{param}: {reason}")
        self.param = param
        self.reason = reason


class NotFound(ActivityLogError):
    """The thing asked for does not exist (or belongs to another partner)."""

    code = "not_found"


class Unauthorized(ActivityLogError):
    """A missing or unknown API key."""

    code = "unauthorized"


class StoreUnavailable(ActivityLogError):
    """ClickHouse cannot be reached or refused the operation.

    Keeps ClickHouse's error code and name when the server gave them.
    """

    code = "store_unavailable"

    def __init__(self, message: str, ch_code: int | None = None, ch_name: str | None = None):
        super().__init__(message)
        self.ch_code = ch_code
        self.ch_name = ch_name


class BrokerUnavailable(ActivityLogError):
    """Kafka cannot be reached, or the local broker failed to start."""

    code = "broker_unavailable"


class DeliveryFailed(ActivityLogError):
    """Kafka did not acknowledge some published events."""

    code = "delivery_failed"
