"""Export manifests (docs/contracts.md): what one holds, its ids, canonical bytes and signature.

A manifest records what was asked (`ExportRequestInfo`), what was written
(`ExportFacts`, computed by `query.manifests.facts.ExportTap` from exactly
the bytes that left the encoder), when and by whom, and the SHA-256 of the
same partner's previous manifest, so an auditor holding the files can check
each one and the chain between them (`query.manifests.verify`).

Canonical bytes: a manifest is serialized as UTF-8 JSON with its keys sorted,
compact separators (`,` and `:`), non-ASCII characters as themselves, no
trailing newline: `json.dumps(m, sort_keys=True, separators=(",", ":"),
ensure_ascii=False).encode("utf-8")`. The `.manifest.json` file holds
exactly those bytes, so `sha256sum M1.manifest.json` is what the next
manifest's `previous` says; the signature is the HMAC-SHA256 of the
canonical bytes of the manifest without its `signature` field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from common.settings import ALL_PARTNERS
from common.timefmt import iso_utc
from query.exports.formats import export_columns
from query.filters import ActivityFilter

# The manifest's fields in the order a person reads them (the file is key-sorted).
MANIFEST_FIELDS: Final = (
    "export_id",
    "partner_id",
    "created_at",
    "created_by",
    "from",
    "to",
    "tz",
    "filters",
    "format",
    "lang",
    "columns",
    "rows",
    "first_event_at",
    "last_event_at",
    "sha256",
    "previous",
)


# `created_by` of an export a schedule started: `schedule:<id> via <the schedule's creator>`.
SCHEDULE_PREFIX: Final = "schedule:"


def scheduled_by(schedule_id: str, owner: str) -> str:
    """`created_by` of a scheduled export: the schedule, and who made it (their key)."""
    return f"{SCHEDULE_PREFIX}{schedule_id} via {owner}"


def schedule_of(created_by: str) -> str | None:
    """The schedule id in a scheduled export's `created_by`, or None for any other export."""
    if not created_by.startswith(SCHEDULE_PREFIX):
        return None
    return created_by[len(SCHEDULE_PREFIX) :].split(" ", 1)[0]


@dataclass(frozen=True)
class ExportRequestInfo:
    """What was asked: who, which range (UTC bounds, `to` exclusive) and zone, filters, format.

    `filters` holds only the filters given (API parameter names, e.g.
    `customer_id`, `action`, `q`); `columns` is the file's own column list
    (the CSV header as written, the Parquet schema, the JSONL keys).
    """

    partner_id: str
    created_by: str
    from_: str
    to: str
    tz: str
    filters: dict[str, str]
    format: str
    lang: str
    columns: list[str]


@dataclass(frozen=True)
class ExportFacts:
    """What was written, derived from exactly the file's bytes (`ExportTap`)."""

    rows: int
    first_event_at: str | None
    last_event_at: str | None
    sha256: str


class ExportObserver(Protocol):
    """Told about every export's end (the audit trail implements it); called by the ledger."""

    def export_finished(self, manifest: Mapping[str, Any]) -> None: ...

    def export_failed(
        self,
        export_id: str,
        info: ExportRequestInfo,
        rows_written: int,
        reason: str,
        *,
        cancelled: bool,
    ) -> None: ...


def new_export_id() -> str:
    """A fresh export id: `exp_` + 26 lowercase base32 characters (128 random bits).

    Unguessable, so an id seen in a log reveals nothing, and URL-safe.
    """
    return "exp_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


_EXPORT_ID = re.compile(r"exp_[a-z2-7]{26}")


def is_export_id(text: str) -> bool:
    """Whether `text` has the shape of an export id (checked before any lookup)."""
    return _EXPORT_ID.fullmatch(text) is not None


def export_request_info(
    flt: ActivityFilter, fmt: str, lang: str, created_by: str
) -> ExportRequestInfo:
    """What an export of `flt` asks, for its manifest.

    `from`/`to` are the resolved UTC bounds (`to` exclusive), `tz` the zone the
    dates were given in; `columns` the file's own column names.
    """
    return ExportRequestInfo(
        partner_id=flt.partner_id if flt.partner_id is not None else ALL_PARTNERS,
        created_by=created_by,
        from_=iso_utc(flt.range.start),
        to=iso_utc(flt.range.end),
        tz=flt.range.tz,
        filters=flt.filters(),
        format=fmt,
        lang=lang,
        columns=export_columns(fmt, lang, flt.range.tz),
    )


# -- canonical form, chain and signature ------------------------------------------------------


def canonical_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The manifest's canonical serialization (see the module docstring)."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical bytes: what the next manifest's `previous` holds."""
    return hashlib.sha256(canonical_bytes(manifest)).hexdigest()


def key_fingerprint(secret: str | bytes, *, prefix: str = "") -> str:
    """A short public name for a secret (12 hex characters of its SHA-256).

    Names a signing key or an API key without exposing it: the digest is
    one-way, and a key guessable from it would be guessable from any
    signature too, so keys must be random either way.
    """
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    return prefix + hashlib.sha256(data).hexdigest()[:12]


def sign(manifest: Mapping[str, Any], key: bytes) -> str:
    """Hex HMAC-SHA256 of the canonical bytes of `manifest` without its `signature`."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return hmac.new(key, canonical_bytes(unsigned), hashlib.sha256).hexdigest()


def build_manifest(
    export_id: str,
    info: ExportRequestInfo,
    facts: ExportFacts,
    *,
    created_at: str,
    previous: str | None,
    signing_key: bytes | None = None,
    key_id: str | None = None,
) -> dict[str, Any]:
    """The manifest of docs/contracts.md, Verifiable exports, signed when `signing_key` is given."""
    manifest: dict[str, Any] = {
        "export_id": export_id,
        "partner_id": info.partner_id,
        "created_at": created_at,
        "created_by": info.created_by,
        "from": info.from_,
        "to": info.to,
        "tz": info.tz,
        "filters": dict(sorted(info.filters.items())),
        "format": info.format,
        "lang": info.lang,
        "columns": list(info.columns),
        "rows": facts.rows,
        "first_event_at": facts.first_event_at,
        "last_event_at": facts.last_event_at,
        "sha256": facts.sha256,
        "previous": previous,
    }
    if signing_key is not None:
        manifest["key_id"] = key_id or key_fingerprint(signing_key, prefix="k-")
        manifest["signature"] = sign(manifest, signing_key)
    return manifest
