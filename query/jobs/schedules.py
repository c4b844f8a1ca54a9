"""Scheduled exports: the rule language, the periods it covers, and where schedules are kept.

A rule (docs/contracts.md, Scheduled exports) is deliberately small:

- `every`: `month`, `week` or `day`;
- `day`: for `month` the day of the month, 1..28 (a day every month has); for
  `week` the weekday, `monday`..`sunday` (or 1..7, Monday = 1); absent for `day`;
- `at`: `HH:MM`, local time in `tz` (an IANA zone);
- optional `starts` / `until`: the first and last local dates a run may be due;
- the export: `format`, `lang` and the direct export's filters.

Each run exports the previous whole period in `tz`: the previous calendar
month, the previous Monday..Sunday week, the previous day. A run is
identified by its period (`2026-11`, `2026-W47`, `2026-11-30`), and its
export job's id is derived from the schedule id and the period
(`run_job_id`), so however often the runner looks (restarts, kill -9), a
period gets one job. A local time that does not exist on a day (the
spring-forward gap) is read with the offset before the change, as zoneinfo
does, and so runs one hour later on the local clock.

This module is pure plus the table's SQL; `query.jobs.runner` fires the runs.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import orjson

from common.errors import BadQuery
from common.settings import ALL_PARTNERS
from common.store import Store
from common.timefmt import iso_utc
from query.exports.formats import check_export
from query.filters import FILTER_FIELDS
from query.jobs.model import JobRequest, PartnerOwned, job_request
from query.ranges import parse_zone
from schemas.tables import SCHEDULES_TABLE

EVERY: Final = ("month", "week", "day")
WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_MONTH_DAY: Final = 28
# A service down for long runs at most this many of a schedule's missed periods (the newest).
MAX_CATCH_UP_RUNS: Final = 12
ACTIVE: Final = "active"
DELETED: Final = "deleted"
RULE_FIELDS: Final = frozenset(
    {"every", "day", "at", "tz", "starts", "until", "format", "lang", "filters", "name"}
)
_AT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_SCHEDULE_ID = re.compile(r"sch_[a-z2-7]{26}")


@dataclass(frozen=True)
class Rule:
    """A validated schedule rule (see the module docstring)."""

    every: str
    day: int | None
    at: time
    tz: str
    format: str
    lang: str
    filters: dict[str, str]
    name: str = ""
    starts: date | None = None
    until: date | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "every": self.every,
            "day": WEEKDAYS[self.day - 1] if self.every == "week" and self.day else self.day,
            "at": self.at.strftime("%H:%M"),
            "tz": self.tz,
            "format": self.format,
            "lang": self.lang,
            "filters": dict(sorted(self.filters.items())),
            "name": self.name,
            "starts": self.starts.isoformat() if self.starts else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return body

    def describe(self) -> str:
        """The rule in words: `every month on day 1 at 02:00 Europe/Paris, the previous month`."""
        when = {
            "month": f"every month on day {self.day}",
            "week": f"every {WEEKDAYS[(self.day or 1) - 1]}",
            "day": "every day",
        }[self.every]
        return f"{when} at {self.at.strftime('%H:%M')} {self.tz}, the previous {self.every}"


@dataclass(frozen=True)
class Run:
    """One due run: its period's key, when it is due (UTC), the local dates it exports."""

    period: str
    due_at: datetime
    first: date
    last: date


def parse_rule(body: dict[str, Any], now: datetime) -> Rule:
    """Validate a POST body into a Rule; a BadQuery names the field at fault."""
    unknown = sorted(set(body) - RULE_FIELDS)
    if unknown:
        raise BadQuery(unknown[0], f"unknown field (use {', '.join(sorted(RULE_FIELDS))})")
    every = _text(body, "every")
    if every not in EVERY:
        raise BadQuery("every", f"{every!r} is not one of {', '.join(EVERY)}")
    day = _day(every, body.get("day"))
    at_text = _text(body, "at")
    match = _AT.fullmatch(at_text)
    if match is None:
        raise BadQuery("at", f"{at_text!r} is not a time of day HH:MM (00:00..23:59)")
    tz = str(body.get("tz") or "UTC")
    zone = parse_zone(tz)
    fmt, lang = str(body.get("format") or "csv"), str(body.get("lang") or "en")
    check_export(fmt, lang)
    filters = _filters(body.get("filters"))
    name = str(body.get("name") or "")[:200]
    today = now.astimezone(zone).date()
    starts = _date(body, "starts")
    until = _date(body, "until")
    if starts is not None and starts < today:
        raise BadQuery("starts", f"{starts} is in the past (today is {today} in {tz})")
    if until is not None and until < (starts or today):
        raise BadQuery("until", f"{until} is in the past or before `starts`")
    rule = Rule(every, day, time(int(match[1]), int(match[2])), tz, fmt, lang, filters, name)
    rule = replace(rule, starts=starts, until=until)
    if next_run(rule, now) is None:
        raise BadQuery("until", "no run is due before `until`: the schedule would never run")
    job_request_for(rule, Run("check", now, today - timedelta(days=1), today), now)
    return rule


def rule_from_json(body: dict[str, Any]) -> Rule:
    """A stored rule (already validated when it was created)."""
    every = str(body["every"])
    raw_day = body.get("day")
    day = WEEKDAYS.index(raw_day) + 1 if isinstance(raw_day, str) else raw_day
    hour, minute = (int(part) for part in str(body["at"]).split(":"))
    return Rule(
        every=every,
        day=day,
        at=time(hour, minute),
        tz=str(body["tz"]),
        format=str(body["format"]),
        lang=str(body["lang"]),
        filters=dict(body.get("filters") or {}),
        name=str(body.get("name") or ""),
        starts=date.fromisoformat(body["starts"]) if body.get("starts") else None,
        until=date.fromisoformat(body["until"]) if body.get("until") else None,
    )


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadQuery(field, "is required (a string)")
    return value.strip()


def _day(every: str, value: Any) -> int | None:
    if every == "day":
        if value not in (None, ""):
            raise BadQuery("day", "must be absent for a daily schedule")
        return None
    if every == "week":
        if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
            return WEEKDAYS.index(value.strip().lower()) + 1
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7:
            return value
        raise BadQuery("day", f"{value!r} is not a weekday (monday..sunday, or 1..7)")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_MONTH_DAY:
        return value
    raise BadQuery(
        "day",
        f"{value!r} is not a day every month has (1..{MAX_MONTH_DAY}); "
        "a run on the 29th-31st would be skipped in shorter months",
    )


def _filters(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise BadQuery("filters", "must be an object of the export's filters")
    filters: dict[str, str] = {}
    for name, text in value.items():
        if name not in FILTER_FIELDS:
            raise BadQuery(f"filters.{name}", f"unknown filter (use {', '.join(FILTER_FIELDS)})")
        if text in (None, ""):
            continue
        if not isinstance(text, str | int) or isinstance(text, bool):
            raise BadQuery(f"filters.{name}", "must be a string")
        filters[name] = str(text)
    return filters


def _date(body: dict[str, Any], field: str) -> date | None:
    value = body.get(field)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadQuery(field, f"{value!r} is not a date (YYYY-MM-DD)") from None


# -- periods ----------------------------------------------------------------------------------


def _is_due_day(rule: Rule, day: date) -> bool:
    if rule.every == "month":
        return day.day == rule.day
    if rule.every == "week":
        return day.isoweekday() == rule.day
    return True


def _run_on(rule: Rule, day: date) -> Run:
    """The run due on local `day` (a due day of `rule`)."""
    due = datetime.combine(day, rule.at, tzinfo=parse_zone(rule.tz)).astimezone(UTC)
    if rule.every == "month":
        last = day.replace(day=1) - timedelta(days=1)
        return Run(f"{last:%Y-%m}", due, last.replace(day=1), last)
    if rule.every == "week":
        first = day - timedelta(days=day.weekday() + 7)
        year, week, _ = first.isocalendar()
        return Run(f"{year}-W{week:02d}", due, first, first + timedelta(days=6))
    last = day - timedelta(days=1)
    return Run(last.isoformat(), due, last, last)


def _allowed(rule: Rule, day: date) -> bool:
    return (rule.starts is None or day >= rule.starts) and (rule.until is None or day <= rule.until)


def runs_between(rule: Rule, after: datetime, upto: datetime) -> list[Run]:
    """The runs due in (after, upto], oldest first, at most the newest `MAX_CATCH_UP_RUNS`."""
    zone = parse_zone(rule.tz)
    day = after.astimezone(zone).date() - timedelta(days=1)
    last_day = upto.astimezone(zone).date() + timedelta(days=1)
    runs: list[Run] = []
    while day <= last_day:
        if _is_due_day(rule, day) and _allowed(rule, day):
            run = _run_on(rule, day)
            if after < run.due_at <= upto:
                runs.append(run)
        day += timedelta(days=1)
    return runs[-MAX_CATCH_UP_RUNS:]


def next_run(rule: Rule, after: datetime) -> Run | None:
    """The first run due after `after` (None: `until` has passed)."""
    zone = parse_zone(rule.tz)
    day = max(after.astimezone(zone).date(), rule.starts or date.min)
    for _ in range(40):  # a month, a week or a day always has a due day within 40 days
        if rule.until is not None and day > rule.until:
            return None
        if _is_due_day(rule, day):
            run = _run_on(rule, day)
            if run.due_at > after:
                return run
        day += timedelta(days=1)
    return None


def job_request_for(rule: Rule, run: Run, now: datetime) -> JobRequest:
    """The export job a run starts: the period's local dates in the rule's zone."""
    params: dict[str, Any] = {
        "from": run.first.isoformat(),
        "to": run.last.isoformat(),
        "tz": rule.tz,
        "format": rule.format,
        "lang": rule.lang,
        **rule.filters,
    }
    return job_request(params, now)


def run_job_id(schedule_id: str, period: str) -> str:
    """The export id of a schedule's run for `period`: the same inputs, the same id, always."""
    digest = hashlib.sha256(f"{schedule_id}/{period}".encode()).digest()[:16]
    return "exp_" + base64.b32encode(digest).decode().rstrip("=").lower()


def new_schedule_id() -> str:
    return "sch_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def is_schedule_id(text: str) -> bool:
    return _SCHEDULE_ID.fullmatch(text) is not None


# -- stored schedules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule(PartnerOwned):
    """One schedule's latest recorded version."""

    schedule_id: str
    partner_id: str  # ALL_PARTNERS for one made with an every-partner key
    created_by: str
    created_at: datetime
    rule: Rule
    state: str = ACTIVE
    version: int = 1
    updated_at: datetime | None = None

    def due_runs(self, now: datetime) -> list[Run]:
        """The runs due since the schedule was made, up to `now` (the newest few)."""
        return runs_between(self.rule, self.created_at, now)


def new_schedule(partner_id: str | None, created_by: str, rule: Rule, now: datetime) -> Schedule:
    return Schedule(
        schedule_id=new_schedule_id(),
        partner_id=ALL_PARTNERS if partner_id is None else partner_id,
        created_by=created_by,
        created_at=now,
        rule=rule,
        updated_at=now,
    )


def schedule_body(schedule: Schedule, now: datetime) -> dict[str, Any]:
    """A schedule as the API shows it."""
    upcoming = next_run(schedule.rule, now) if schedule.state == ACTIVE else None
    return {
        "id": schedule.schedule_id,
        "url": f"/api/v1/schedules/{schedule.schedule_id}",
        "state": schedule.state,
        "partner_id": schedule.partner_id,
        "created_by": schedule.created_by,
        "created_at": iso_utc(schedule.created_at),
        "rule": schedule.rule.to_json(),
        "description": schedule.rule.describe(),
        "next_run_at": iso_utc(upcoming.due_at) if upcoming else None,
        "next_period": upcoming.period if upcoming else None,
    }


_COLUMNS: Final = (
    "schedule_id",
    "version",
    "partner_id",
    "created_by",
    "created_at",
    "updated_at",
    "state",
    "rule",
)
_LATEST: Final = "ORDER BY version DESC LIMIT 1 BY schedule_id"


class ScheduleTable:
    """The `export_schedules` table: a schedule's new version, the latest ones."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()

    def save(self, schedule: Schedule) -> Schedule:
        rule = orjson.dumps(schedule.rule.to_json(), option=orjson.OPT_SORT_KEYS).decode()
        row = (
            schedule.schedule_id,
            schedule.version,
            schedule.partner_id,
            schedule.created_by,
            schedule.created_at,
            schedule.updated_at or schedule.created_at,
            schedule.state,
            rule,
        )
        with self._lock:
            self.store.insert_columns(SCHEDULES_TABLE, [[v] for v in row], _COLUMNS)
        return schedule

    def get(self, schedule_id: str) -> Schedule | None:
        rows = self.store.query_rows(
            f"SELECT {', '.join(_COLUMNS)} FROM {SCHEDULES_TABLE} "  # noqa: S608 - constants
            f"WHERE schedule_id = {{id:String}} {_LATEST}",
            {"id": schedule_id},
        )
        return _schedule(rows[0]) if rows else None

    def in_state(self, state: str) -> list[Schedule]:
        """Every schedule whose latest version is in `state`, oldest first."""
        rows = self.store.query_rows(
            f"SELECT * FROM (SELECT {', '.join(_COLUMNS)} FROM {SCHEDULES_TABLE} "  # noqa: S608
            f"{_LATEST}) WHERE state = {{state:String}} ORDER BY created_at",
            {"state": state},
        )
        return [_schedule(row) for row in rows]

    def delete(self, schedule: Schedule, now: datetime) -> Schedule:
        gone = replace(schedule, state=DELETED, version=schedule.version + 1, updated_at=now)
        return self.save(gone)


def _schedule(row: tuple[Any, ...]) -> Schedule:
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in ("created_at", "updated_at"):
        value = values[name]
        if isinstance(value, datetime) and value.tzinfo is None:
            values[name] = value.replace(tzinfo=UTC)
    values["rule"] = rule_from_json(orjson.loads(values["rule"]))
    return Schedule(**values)
