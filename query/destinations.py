"""A partner's webhook destinations as the API manages them: create, list, remove.

The rules a destination must pass are `schemas/destinations.py`'s; this module
applies them within the caller's partner scope and records the result. A key of
every partner (`*`, or no keys on a loopback server) names the partner in the body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from prometheus_client import REGISTRY

from common.destination_key import destinations_key
from common.errors import BadQuery, NotFound
from common.settings import ALL_PARTNERS, Settings
from common.store import Store
from common.timefmt import iso_utc
from query.destination_audit import (
    DESTINATION_CREATE,
    DESTINATION_DELETE,
    AuditSink,
    destination_event,
)
from schemas.destination_table import read_destination, read_destinations, write_destination
from schemas.destinations import (
    DELIVERED_METRIC,
    FAILED_METRIC,
    LAST_SUCCESS_METRIC,
    PARKED_METRIC,
    PENDING_METRIC,
    RETRYING_METRIC,
    STATE_ACTIVE,
    STATE_DELETED,
    STATE_REPLAYING,
    Destination,
    NetworkPolicy,
    Resolver,
    check_destination_url,
    derive_secret,
    is_destination_id,
    new_destination_id,
    new_salt,
    parse_spec,
    pinned,
    secret_fingerprint,
    signed_headers,
)

# Destinations one partner may have (deleted ones not counted).
MAX_DESTINATIONS_PER_PARTNER = 20


def network_policy(settings: Settings) -> NetworkPolicy:
    return NetworkPolicy(
        allow_loopback=settings.destinations_allow_loopback,
        allow_private=settings.destinations_allow_private,
    )


@dataclass(frozen=True)
class Created:
    """A new destination and its secret: the one time the secret is shown."""

    destination: Destination
    secret: str

    def body(self) -> dict[str, Any]:
        return self.destination.public() | {"secret": self.secret}


class Destinations:
    """Create, list and remove destinations in a partner scope (None: every partner)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        now: Callable[[], datetime],
        resolve: Resolver | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.now = now
        self.resolve = resolve
        self.audit = audit  # None: not audited (a process that publishes nothing)

    def create(self, scope: str | None, body: Mapping[str, Any], created_by: str) -> Created:
        spec = parse_spec(body)
        partner = _partner_for(scope, body.get("partner_id"))
        check_destination_url(spec.url, network_policy(self.settings), self.resolve)
        if len(read_destinations(self.store, partner)) >= MAX_DESTINATIONS_PER_PARTNER:
            raise BadQuery(
                "url",
                f"partner {partner} already has {MAX_DESTINATIONS_PER_PARTNER} destinations; "
                "remove one first",
            )
        destination_id, salt = new_destination_id(), new_salt()
        secret = derive_secret(destinations_key(self.settings), destination_id, salt)
        now = self.now()
        destination = Destination(
            destination_id=destination_id,
            partner_id=partner,
            url=spec.url,
            description=spec.description,
            actions=spec.actions,
            kinds=spec.kinds,
            customers=spec.customers,
            salt=salt,
            secret_fingerprint=secret_fingerprint(secret),
            created_at=now,
            created_by=created_by,
            state=STATE_ACTIVE,
            state_reason="",
            updated_at=now,
        )
        write_destination(self.store, destination)
        self._audit(DESTINATION_CREATE, destination, created_by)
        return Created(destination, secret)

    def list(self, scope: str | None) -> list[Destination]:
        return read_destinations(self.store, scope)

    def get(self, scope: str | None, destination_id: str) -> Destination:
        """The destination, 404 when it does not exist, is deleted or is another partner's."""
        found = (
            read_destination(self.store, destination_id)
            if is_destination_id(destination_id)
            else None
        )
        if (
            found is None
            or found.state == STATE_DELETED
            or (scope is not None and found.partner_id != scope)
        ):
            raise NotFound(f"no destination {destination_id!r}")
        return found

    def remove(self, scope: str | None, destination_id: str, removed_by: str) -> Destination:
        """Mark it deleted: the agent stops delivering to it at its next refresh."""
        found = self.get(scope, destination_id)
        removed = replace(
            found, state=STATE_DELETED, state_reason="removed by the partner", updated_at=self.now()
        )
        write_destination(self.store, removed)
        self._audit(DESTINATION_DELETE, removed, removed_by)
        return removed

    def _audit(self, action: str, destination: Destination, by: str) -> None:
        if self.audit is not None:
            event = destination_event(action, destination, by=by, at=destination.updated_at)
            self.audit.record_action(event)

    def replay(self, scope: str | None, destination_id: str) -> Destination:
        """Ask the delivery agent to re-send the parked activities, then resume (202)."""
        found = self.get(scope, destination_id)
        asked = replace(
            found,
            state=STATE_REPLAYING,
            state_reason="replay of the parked activities asked for",
            updated_at=self.now(),
        )
        write_destination(self.store, asked)
        return asked

    def test(self, scope: str | None, destination_id: str) -> dict[str, Any]:
        """Send one signed request with no activities; what the endpoint answered."""
        found = self.get(scope, destination_id)
        addresses = check_destination_url(found.url, network_policy(self.settings), self.resolve)
        target, host, extensions = pinned(found.url, addresses[0])
        secret = derive_secret(destinations_key(self.settings), found.destination_id, found.salt)
        body = request_body_json(found.destination_id)
        timestamp = str(int(time.time()))
        headers = signed_headers(secret, timestamp, body, found.destination_id, []) | {"Host": host}
        try:
            with httpx.Client(
                timeout=self.settings.delivery_timeout_seconds, follow_redirects=False
            ) as http:
                response = http.post(target, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            return {"id": found.destination_id, "ok": False, "status": None, "reason": str(exc)}
        ok = 200 <= response.status_code < 300
        reason = "" if ok else f"HTTP {response.status_code}"
        return {
            "id": found.destination_id,
            "ok": ok,
            "status": response.status_code,
            "reason": reason,
        }


def delivery_figures(d: Destination) -> dict[str, Any] | None:
    """The delivery agent's figures for `d` when it runs in this process (`serve`), else None.

    Read from the process's Prometheus registry by the metric names of the contract;
    `activitylog deliver` run apart serves them on its own metrics port instead.
    """
    labels = {"destination": d.destination_id, "partner": d.partner_id}

    def value(name: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    delivered = value(DELIVERED_METRIC)
    pending = value(PENDING_METRIC)
    if delivered is None and pending is None and value(FAILED_METRIC) is None:
        return None
    last = value(LAST_SUCCESS_METRIC)
    return {
        "delivered": int(delivered or 0),
        "failed_requests": int(value(FAILED_METRIC) or 0),
        "parked": int(value(PARKED_METRIC) or 0),
        "retrying": int(value(RETRYING_METRIC) or 0),
        "pending": int(pending or 0),
        "last_success_at": iso_utc(datetime.fromtimestamp(last, UTC)) if last else None,
    }


def with_figures(d: Destination) -> dict[str, Any]:
    """The destination as the API shows it, with its delivery figures (None when unknown)."""
    return d.public() | {"delivery": delivery_figures(d)}


def request_body_json(destination_id: str) -> bytes:
    """A test request's body: the delivery's shape, with no activity."""
    return orjson.dumps({"destination_id": destination_id, "activities": [], "test": True})


def _partner_for(scope: str | None, asked: Any) -> str:
    """The partner of a new destination: the key's, or the body's for an all-partners key."""
    if scope is not None:
        if asked is not None and asked != scope:
            raise BadQuery("partner_id", "must be the API key's own partner (or left out)")
        return scope
    if not isinstance(asked, str) or not asked.strip() or asked.strip() == ALL_PARTNERS:
        raise BadQuery("partner_id", "is required with a key of every partner, and names one")
    return asked.strip()
