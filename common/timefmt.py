"""The one spelling of an instant in what we write: `2026-11-27T10:00:00.123Z`.

Events, API items, exports and manifests all carry it (docs/contracts.md,
The activity record): UTC, milliseconds, a `Z` rather than `+00:00`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime) -> str:
    """`value` as `2026-11-27T10:00:00.123Z`; a naive value is taken as UTC (the store's)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")
