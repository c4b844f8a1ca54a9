"""Limits that protect the API server: request body, query string, direct-download range.

Why here and not in a proxy: the API is often run without one (`activitylog
serve` on a laptop, `activitylog api` behind a plain load balancer), and a
single request must not make the server buffer megabytes or scan years of
rows for a download that cannot finish. Every refusal is the API's JSON error
naming the limit and the setting that raises it. Long ranges have their own
way: export jobs (`POST /api/v1/exports`) run in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from common.errors import ActivityLogError, BadQuery, PayloadTooLarge, UriTooLong
from common.settings import Settings
from query.http.errors import typed_error_response
from query.ranges import TimeRange

Scope = dict[str, Any]
Message = dict[str, Any]


@dataclass(frozen=True)
class ApiLimits:
    """The server's limits, as the settings give them."""

    max_body_bytes: int
    max_query_bytes: int
    export_max_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiLimits:
        return cls(
            max_body_bytes=settings.api_max_body_bytes,
            max_query_bytes=settings.api_max_query_bytes,
            export_max_days=settings.export_max_days,
        )


def check_export_range(time_range: TimeRange, max_days: int) -> None:
    """Refuse a direct download over more than `max_days` days (BadQuery names the limit)."""
    span = time_range.end - time_range.start
    if span > timedelta(days=max_days):
        days = span / timedelta(days=1)
        raise BadQuery(
            "to",
            f"the range spans {days:.1f} days; a direct download is limited to {max_days} days "
            "(ACTIVITYLOG_EXPORT_MAX_DAYS): start an export job (POST /api/v1/exports) "
            "for a longer range",
        )


class RequestLimits:
    """ASGI middleware: 414 for a long query string, 413 for a large body, before the app runs.

    The body is read (up to the limit) before the app sees it, so a client
    that streams a huge chunked body is refused after `max_body_bytes`, not
    after the server buffered it all; the bytes read are replayed to the app.
    """

    def __init__(self, app: Any, limits: ApiLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        query = scope.get("query_string", b"")
        if len(query) > limits.max_query_bytes:
            too_long = UriTooLong(
                f"the query string is {len(query)} bytes; the limit is {limits.max_query_bytes} "
                "(ACTIVITYLOG_API_MAX_QUERY_BYTES)"
            )
            await _refuse(too_long, scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limits.max_body_bytes:
            await _refuse(_too_large(limits), scope, receive, send)
            return
        body, more, disconnected = b"", True, False
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > limits.max_body_bytes:
                await _refuse(_too_large(limits), scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed and not disconnected:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limits: ApiLimits) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than the limit of {limits.max_body_bytes} bytes "
        "(ACTIVITYLOG_API_MAX_BODY_BYTES)"
    )


async def _refuse(error: ActivityLogError, scope: Scope, receive: Any, send: Any) -> None:
    await typed_error_response(error)(scope, receive, send)
