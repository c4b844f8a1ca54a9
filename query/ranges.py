"""Date ranges as partners type them: inclusive dates in a time zone, or RFC 3339 instants.

Pure: `resolve_range` turns the `from`/`to`/`tz` parameters into a half-open
UTC interval [start, end). Both omitted = the most recent month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.errors import BadQuery

DEFAULT_SPAN = timedelta(days=30)


@dataclass(frozen=True)
class TimeRange:
    """Half-open UTC interval [start, end) plus the dates a person asked for."""

    start: datetime
    end: datetime
    tz: str

    def label(self) -> tuple[str, str]:
        """The inclusive local dates of the range, for file names and headings."""
        zone = ZoneInfo(self.tz)
        last = self.end - timedelta(microseconds=1)
        return (
            self.start.astimezone(zone).date().isoformat(),
            last.astimezone(zone).date().isoformat(),
        )


def parse_zone(tz: str | None) -> ZoneInfo:
    name = tz or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadQuery(
            "tz", f"unknown time zone {name!r} (use an IANA name like Europe/Paris)"
        ) from None


def _parse_bound(param: str, text: str, zone: ZoneInfo, *, is_end: bool) -> datetime:
    text = text.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise BadQuery(param, f"{text!r} is not a date (YYYY-MM-DD)") from None
        if is_end:  # an end date is inclusive: the range runs to the next local midnight
            day += timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadQuery(
            param, f"{text!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp"
        ) from None
    if instant.tzinfo is None:
        raise BadQuery(param, f"{text!r} has no UTC offset (add Z or +HH:MM)")
    return instant.astimezone(UTC)


def resolve_range(from_: str | None, to: str | None, tz: str | None, now: datetime) -> TimeRange:
    """Resolve the user's range; raises BadQuery naming the parameter at fault."""
    zone = parse_zone(tz)
    name = tz or "UTC"
    end = _parse_bound("to", to, zone, is_end=True) if to else None
    start = _parse_bound("from", from_, zone, is_end=False) if from_ else None
    if end is None:  # through the end of today, in the caller's zone
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        end = datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)
    if start is None:
        start = end - DEFAULT_SPAN
    if start >= end:
        raise BadQuery("from", "must be before `to`")
    return TimeRange(start=start, end=end, tz=name)
