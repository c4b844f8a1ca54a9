"""Webhook destinations (docs/contracts.md, Destinations): the record, its rules, the signature.

A destination is a partner's HTTPS endpoint that receives that partner's
activities as they are stored. The record, the rules a new one must pass
(URL, filters) and the signature's canonical string are a contract shared by
the HTTP routes (`query/`) and the delivery agent (`processors/`), so they live here.

The secret is never stored. It is derived from the server's destinations key
and a random salt kept in the record, `HMAC-SHA256(key, SECRET_CONTEXT + id +
"\\n" + salt)`: a copy of the store alone signs nothing, and the partner sees
it once, in the answer that creates the destination.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from common.errors import BadQuery
from common.timefmt import iso_utc
from schemas.activity import KIND_ORDER, KIND_PARTNER_ACTION

# Headers of every delivery request.
SIGNATURE_HEADER: Final = "X-Activitylog-Signature"
TIMESTAMP_HEADER: Final = "X-Activitylog-Timestamp"
DESTINATION_HEADER: Final = "X-Activitylog-Destination"
# The event ids of the request's activities, comma-separated, in body order.
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
# `v1=` then the hex HMAC-SHA256 of the canonical string.
SIGNATURE_VERSION: Final = "v1"
SECRET_CONTEXT: Final = b"activitylog destination secret v1\n"

# Per-destination delivery metrics (labels `destination`, `partner`): defined by the agent
# (processors/delivery/metrics.py), read back by the API for the page when both share a process.
DELIVERED_METRIC: Final = "activitylog_delivery_delivered_total"
FAILED_METRIC: Final = "activitylog_delivery_failed_requests_total"
PARKED_METRIC: Final = "activitylog_delivery_parked_total"
RETRYING_METRIC: Final = "activitylog_delivery_retrying"
PENDING_METRIC: Final = "activitylog_delivery_pending"
FAILING_METRIC: Final = "activitylog_delivery_failing"
LAST_SUCCESS_METRIC: Final = "activitylog_delivery_last_success_timestamp_seconds"

STATE_ACTIVE: Final = "active"
STATE_FAILING: Final = "failing"
STATE_DELETED: Final = "deleted"
# Asked to re-send its parked activities: the delivery agent does, then sets it active.
STATE_REPLAYING: Final = "replaying"

# The optional filters of a destination, each a list; empty means every value.
FILTER_FIELDS: Final = ("actions", "kinds", "customers")
KINDS: Final = (KIND_PARTNER_ACTION, KIND_ORDER)
# The fields `POST /api/v1/destinations` accepts.
SPEC_FIELDS: Final = ("url", "description", "partner_id", *FILTER_FIELDS)
MAX_URL_CHARS: Final = 2048
MAX_DESCRIPTION_CHARS: Final = 200
MAX_FILTER_VALUES: Final = 100
MAX_FILTER_VALUE_CHARS: Final = 200
_ID = re.compile(r"dst_[0-9a-f]{24}")
# Cloud metadata services: refused whatever the operator allows.
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254")
)

Resolver = Callable[[str, int], Sequence[str]]


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses a destination may reach (ACTIVITYLOG_DESTINATIONS_ALLOW_*).

    Public addresses always; loopback (and plain `http://` to it) and private or
    link-local ranges only when the operator allows them. Metadata addresses never.
    """

    allow_loopback: bool = False
    allow_private: bool = False


@dataclass(frozen=True)
class DestinationSpec:
    """What a partner asks for: a URL and optional filters (validated by `parse_spec`)."""

    url: str
    description: str = ""
    actions: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Destination:
    """One stored destination: the partner's spec, its state, and the salt of its secret."""

    destination_id: str
    partner_id: str
    url: str
    description: str
    actions: tuple[str, ...]
    kinds: tuple[str, ...]
    customers: tuple[str, ...]
    salt: str
    secret_fingerprint: str
    created_at: datetime
    created_by: str
    state: str
    state_reason: str
    updated_at: datetime

    def accepts(self, partner_id: str, kind: str, action: str, customer_id: str) -> bool:
        """Whether an activity with these columns goes to this destination."""
        return (
            partner_id == self.partner_id
            and (not self.kinds or kind in self.kinds)
            and (not self.actions or action in self.actions)
            and (not self.customers or customer_id in self.customers)
        )

    def public(self) -> dict[str, Any]:
        """The record as the API and the CLI show it: never the secret, nor its salt."""
        return {
            "id": self.destination_id,
            "partner_id": self.partner_id,
            "url": self.url,
            "description": self.description,
            "actions": list(self.actions),
            "kinds": list(self.kinds),
            "customers": list(self.customers),
            "secret_fingerprint": self.secret_fingerprint,
            "state": self.state,
            "state_reason": self.state_reason,
            "created_at": iso_utc(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso_utc(self.updated_at),
        }


# The stored columns, in table order (schemas/migrations/0007_destinations.sql).
DESTINATION_COLUMNS: Final = (
    "partner_id",
    "destination_id",
    "url",
    "description",
    "actions",
    "kinds",
    "customers",
    "salt",
    "secret_fingerprint",
    "created_at",
    "created_by",
    "state",
    "state_reason",
    "updated_at",
)


def destination_from_row(row: Mapping[str, Any]) -> Destination:
    """A `Destination` from a row of the destinations table, read by column name."""
    return Destination(
        destination_id=row["destination_id"],
        partner_id=row["partner_id"],
        url=row["url"],
        description=row["description"],
        actions=tuple(row["actions"]),
        kinds=tuple(row["kinds"]),
        customers=tuple(row["customers"]),
        salt=row["salt"],
        secret_fingerprint=row["secret_fingerprint"],
        created_at=_utc(row["created_at"]),
        created_by=row["created_by"],
        state=row["state"],
        state_reason=row["state_reason"],
        updated_at=_utc(row["updated_at"]),
    )


def _utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (the client may hand back a naive one)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def destination_to_row(d: Destination) -> list[Any]:
    """The values of `DESTINATION_COLUMNS` for `d`."""
    return [
        d.partner_id,
        d.destination_id,
        d.url,
        d.description,
        list(d.actions),
        list(d.kinds),
        list(d.customers),
        d.salt,
        d.secret_fingerprint,
        d.created_at,
        d.created_by,
        d.state,
        d.state_reason,
        d.updated_at,
    ]


def new_destination_id() -> str:
    return "dst_" + secrets.token_hex(12)


def is_destination_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


def new_salt() -> str:
    return secrets.token_hex(16)


def derive_secret(key: bytes, destination_id: str, salt: str) -> str:
    """The destination's signing secret: `whsec_` + base64url of the HMAC (see the module)."""
    mac = hmac.new(key, SECRET_CONTEXT + f"{destination_id}\n{salt}".encode(), hashlib.sha256)
    return "whsec_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def secret_fingerprint(secret: str) -> str:
    """12 hex characters of the secret's SHA-256: which secret, useless for signing."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def canonical_string(timestamp: str, body: bytes) -> bytes:
    """What is signed: the `X-Activitylog-Timestamp` value, a `.`, then the body's bytes."""
    return timestamp.encode("ascii") + b"." + body


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Activitylog-Signature` value: `v1=` + hex HMAC-SHA256(secret, canonical string)."""
    mac = hmac.new(secret.encode(), canonical_string(timestamp, body), hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def signed_headers(
    secret: str, timestamp: str, body: bytes, destination_id: str, event_ids: Sequence[str]
) -> dict[str, str]:
    """Every header of a delivery request (docs/contracts.md, Webhook destinations)."""
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        DESTINATION_HEADER: destination_id,
        IDEMPOTENCY_HEADER: ",".join(event_ids),
    }


def signature_valid(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a received signature (what a receiver runs)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature.strip())


# -- what a new destination must be -----------------------------------------------------------


def parse_spec(body: Mapping[str, Any]) -> DestinationSpec:
    """Validate a `POST /api/v1/destinations` body; `BadQuery` names the faulty field.

    The URL's shape only: where it resolves to is `check_destination_url`'s job.
    """
    unknown = sorted(set(body) - set(SPEC_FIELDS))
    if unknown:
        raise BadQuery(unknown[0], f"unknown field (known: {', '.join(SPEC_FIELDS)})")
    url = body.get("url")
    if not isinstance(url, str) or not url.strip():
        raise BadQuery("url", "is required: the HTTPS endpoint to deliver to")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise BadQuery("description", f"must be text of at most {MAX_DESCRIPTION_CHARS} characters")
    filters = {name: _filter_values(name, body.get(name)) for name in FILTER_FIELDS}
    bad_kinds = sorted(set(filters["kinds"]) - set(KINDS))
    if bad_kinds:
        raise BadQuery("kinds", f"{bad_kinds[0]!r} is not a kind (known: {', '.join(KINDS)})")
    return DestinationSpec(
        url=url.strip(),
        description=description.strip(),
        actions=filters["actions"],
        kinds=filters["kinds"],
        customers=filters["customers"],
    )


def _filter_values(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # the CLI's and a form's `a,b,c`
        value = [v for v in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadQuery(name, "must be a list of text values")
    values = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(values) > MAX_FILTER_VALUES:
        raise BadQuery(name, f"has {len(values)} values; at most {MAX_FILTER_VALUES}")
    if any(len(v) > MAX_FILTER_VALUE_CHARS for v in values):
        raise BadQuery(name, f"values must be at most {MAX_FILTER_VALUE_CHARS} characters")
    return values


def check_destination_url(
    url: str, policy: NetworkPolicy, resolve: Resolver | None = None
) -> list[str]:
    """Refuse a URL a partner must not make the server call (SSRF); returns its addresses.

    HTTPS to a public address; plain HTTP only to loopback, and loopback, private
    and link-local addresses only as `policy` allows. Every address the host
    resolves to must pass, so a name with one public and one private address is
    refused. The delivery agent runs the same check before each connection.
    """
    if len(url) > MAX_URL_CHARS:
        raise BadQuery("url", f"is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadQuery("url", f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise BadQuery("url", "must start with https://")
    host = parts.hostname
    if not host:
        raise BadQuery("url", "names no host")
    if parts.username is not None or parts.password is not None:
        raise BadQuery("url", "must not carry a user name or password")
    if parts.fragment:
        raise BadQuery("url", "must not carry a #fragment")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = list((resolve or resolve_host)(host, port))
    if not addresses:
        raise BadQuery("url", f"host {host!r} does not resolve")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        refusal = _refusal(address, parts.scheme, policy)
        if refusal:
            raise BadQuery("url", f"host {host!r} resolves to {address}, {refusal}")
    return addresses


def _refusal(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, scheme: str, policy: NetworkPolicy
) -> str:
    """Why `address` is refused for `scheme` under `policy`; empty when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address, which is never allowed"
    if address.is_loopback:
        if not policy.allow_loopback:
            return (
                "a loopback address (allowed only when the operator sets "
                "ACTIVITYLOG_DESTINATIONS_ALLOW_LOOPBACK)"
            )
        return ""
    if scheme != "https":
        return "and plain http:// is allowed only to loopback: use https://"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "which is not a unicast address"
    private = address.is_private or address.is_link_local or not address.is_global
    if private and not policy.allow_private:
        return (
            "a private or link-local address (allowed only when the operator sets "
            "ACTIVITYLOG_DESTINATIONS_ALLOW_PRIVATE)"
        )
    return ""


def pinned(url: str, address: str) -> tuple[str, str, dict[str, Any]]:
    """The URL with the checked address in place of its host, the Host header, the TLS name.

    Connecting to the address that passed the guard, rather than resolving the name
    again, leaves no window for the name to resolve elsewhere (DNS rebinding); the
    certificate is still verified against the host name (SNI).
    """
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port is not None else "")
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    extensions: dict[str, Any] = {}
    if parts.scheme == "https" and parts.hostname is not None:
        extensions["sni_hostname"] = parts.hostname
    return target, parts.netloc, extensions


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BadQuery("url", f"host {host!r} does not resolve: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
