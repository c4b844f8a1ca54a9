"""Typed errors: each carries the reason a person needs to fix the problem.

The CLI turns them into one line and `exit_code`; the API into
`{"error": {"code", "message"}}` with `http_status` (query/http/errors.py).
Tracebacks are for logs only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class ActivityLogError(Exception):
    """Base of every error this project raises on purpose.

    `http_status` 400 unless a subclass says otherwise: an error the API has
    no better answer for is the request's to fix.
    """

    code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def http_headers(self) -> Mapping[str, str]:
        """Headers the API's answer must carry beside the JSON error (none by default)."""
        return {}


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


class Unauthorized(ActivityLogError):
    """A missing or unknown API key."""

    code = "unauthorized"
    http_status = 401


class NotFound(ActivityLogError):
    """The thing asked for does not exist (or belongs to another partner)."""

    code = "not_found"
    http_status = 404


class NotReady(ActivityLogError):
    """An export job's file asked for while the job is still queued or running."""

    code = "not_ready"
    http_status = 409


class Gone(ActivityLogError):
    """An export job's file that will never be there again (expired, deleted, failed)."""

    code = "gone"
    http_status = 410


class PayloadTooLarge(ActivityLogError):
    """A request body over the server's limit."""

    code = "payload_too_large"
    http_status = 413


class UriTooLong(ActivityLogError):
    """A query string over the server's limit."""

    code = "uri_too_long"
    http_status = 414


class RangeNotSatisfiable(ActivityLogError):
    """A byte range that starts at or after the end of a `size`-byte file."""

    code = "range_not_satisfiable"
    http_status = 416

    def __init__(self, size: int) -> None:
        super().__init__(f"the file has {size} bytes")
        self.size = size

    def http_headers(self) -> Mapping[str, str]:
        # RFC 9110 §15.5.17: a 416 names the current length of the file.
        return {"Content-Range": f"bytes */{self.size}"}


class TooManyJobs(ActivityLogError):
    """One partner already has as many export jobs queued or running as allowed."""

    code = "too_many_jobs"
    http_status = 429


class TooManySchedules(ActivityLogError):
    """One partner already has as many active export schedules as allowed."""

    code = "too_many_schedules"
    http_status = 429


class Internal(ActivityLogError):
    """An unexpected failure, as the API answers it: the details go to the server log."""

    code = "internal"
    http_status = 500


class StoreUnavailable(ActivityLogError):
    """ClickHouse cannot be reached or refused the operation.

    Keeps ClickHouse's error code and name when the server gave them.
    """

    code = "store_unavailable"
    http_status = 503

    def __init__(self, message: str, ch_code: int | None = None, ch_name: str | None = None):
        super().__init__(message)
        self.ch_code = ch_code
        self.ch_name = ch_name


class JobsDisabled(ActivityLogError):
    """This API server runs no export job runner."""

    code = "jobs_disabled"
    http_status = 503


class ApiUnavailable(ActivityLogError):
    """The API server (a running `activitylog serve`) cannot be reached or is not healthy."""

    code = "api_unavailable"


class WorkerFailed(ActivityLogError):
    """The ingest worker stopped on an error."""

    code = "worker_failed"


class BrokerUnavailable(ActivityLogError):
    """Kafka cannot be reached, or the local broker failed to start."""

    code = "broker_unavailable"


class DeliveryFailed(ActivityLogError):
    """Kafka did not acknowledge some published events."""

    code = "delivery_failed"
