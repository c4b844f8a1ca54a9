"""One signed delivery request to a destination, and what its answer means for a retry.

- 2xx: delivered.
- 5xx, 408, 429 (with its `Retry-After`), a timeout, a refused or broken connection: retry.
- Any other answer (a 3xx is never followed, a 4xx is the receiver refusing the data),
  or an address the SSRF guard now refuses: the destination is failing at once.

The URL's addresses are checked again before each request, and the request
connects to the address that passed (the certificate still checked against the
host name), so a name that resolves to a private address later, or in between
(DNS rebinding), never gets a request.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final

import httpx

from common.errors import BadQuery
from schemas.destinations import (
    Destination,
    NetworkPolicy,
    Resolver,
    check_destination_url,
    pinned,
    signed_headers,
)

log = logging.getLogger(__name__)

DELIVERED: Final = "delivered"
RETRY: Final = "retry"
REFUSED: Final = "refused"
# The most a receiver's Retry-After is honoured for; longer ones count as this.
MAX_RETRY_AFTER_SECONDS: Final = 3600.0
_RETRYABLE_STATUS: Final = frozenset({408, 429})
# One request at a time per destination (its lane's order); a spare for a reconnect.
CONNECTIONS_PER_DESTINATION: Final = 2


@dataclass(frozen=True)
class Outcome:
    """What one request came to: `DELIVERED`, `RETRY` (maybe after `retry_after` s) or `REFUSED`."""

    kind: str
    reason: str = ""
    retry_after: float | None = None


class Sender:
    """Signs and POSTs request bodies, each destination on HTTP connections of its own.

    A client per destination: a hanging endpoint holds only its own connections, and a
    kept-alive TLS connection verified for one host name never carries another
    destination's request, even when both names resolve to one address.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
        resolve: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.clock = clock
        self.resolve = resolve
        self.ssl_context = ssl_context
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, destination_id: str) -> httpx.AsyncClient:
        client = self._clients.get(destination_id)
        if client is None:
            if self.ssl_context is None:
                # One context (the trusted certificates, read once) for every destination's
                # client: loading them takes tens of ms of CPU, and a context holds no
                # connection, so sharing it never lets one destination's TLS carry another's.
                self.ssl_context = httpx.create_ssl_context()
            client = httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                verify=self.ssl_context,
                limits=httpx.Limits(max_connections=CONNECTIONS_PER_DESTINATION),
                headers={"User-Agent": "activitylog-delivery/1"},
            )
            self._clients[destination_id] = client
        return client

    async def send(
        self, destination: Destination, secret: str, body: bytes, event_ids: Sequence[str]
    ) -> Outcome:
        try:
            addresses = await asyncio.to_thread(
                check_destination_url, destination.url, self.policy, self.resolve
            )
        except BadQuery as exc:
            return Outcome(REFUSED, f"the URL is refused now: {exc.reason}")
        timestamp = str(int(self.clock()))
        headers = signed_headers(secret, timestamp, body, destination.destination_id, event_ids)
        target, host, extensions = pinned(destination.url, addresses[0])
        headers["Host"] = host
        try:
            response = await self._client(destination.destination_id).post(
                target, content=body, headers=headers, extensions=extensions
            )
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

    async def forget(self, destination_id: str) -> None:
        """Close a removed destination's connections."""
        client = self._clients.pop(destination_id, None)
        if client is not None:
            await client.aclose()

    async def close(self) -> None:
        for destination_id in list(self._clients):
            await self.forget(destination_id)


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
