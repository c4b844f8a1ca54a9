"""One signed delivery request to a destination, and what its answer means for a retry.

- 2xx: delivered.
- 5xx, 408, 429 (with its `Retry-After`), a timeout, a refused or broken connection: retry.
- Any other answer (a 3xx is never followed, a 4xx is the receiver refusing the data),
  or an address the SSRF guard now refuses: the destination is failing at once.

The URL's addresses are checked again before each request, so a name that
later resolves to a private address (DNS rebinding) is caught there too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final

import httpx

from common.errors import BadQuery
from schemas.destinations import Destination, NetworkPolicy, check_destination_url, signed_headers

log = logging.getLogger(__name__)

DELIVERED: Final = "delivered"
RETRY: Final = "retry"
REFUSED: Final = "refused"
# The most a receiver's Retry-After is honoured for; longer ones count as this.
MAX_RETRY_AFTER_SECONDS: Final = 3600.0
_RETRYABLE_STATUS: Final = frozenset({408, 429})


@dataclass(frozen=True)
class Outcome:
    """What one request came to: `DELIVERED`, `RETRY` (maybe after `retry_after` s) or `REFUSED`."""

    kind: str
    reason: str = ""
    retry_after: float | None = None


class Sender:
    """Signs and POSTs request bodies; one HTTP client (a bounded pool) for every destination."""

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        timeout: float,
        max_connections: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.http = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=32),
            headers={"User-Agent": "activitylog-delivery/1"},
        )

    async def send(
        self, destination: Destination, secret: str, body: bytes, event_ids: Sequence[str]
    ) -> Outcome:
        try:
            await asyncio.to_thread(check_destination_url, destination.url, self.policy)
        except BadQuery as exc:
            return Outcome(REFUSED, f"the URL is refused now: {exc.reason}")
        timestamp = str(int(self.clock()))
        headers = signed_headers(secret, timestamp, body, destination.destination_id, event_ids)
        try:
            response = await self.http.post(destination.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Outcome(RETRY, f"timed out ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return Outcome(RETRY, f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(DELIVERED)
        if status >= 500 or status in _RETRYABLE_STATUS:
            after = retry_after(response.headers.get("retry-after"), self.clock())
            return Outcome(RETRY, f"HTTP {status}", after)
        return Outcome(REFUSED, f"HTTP {status}")

    async def close(self) -> None:
        await self.http.aclose()


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a `Retry-After` asks for (delta-seconds or an HTTP date); None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER_SECONDS)
