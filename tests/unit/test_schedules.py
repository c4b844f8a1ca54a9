"""The schedule rule language: validation naming the field, due times, periods, run ids."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from common.errors import BadQuery
from query.jobs.schedules import (
    MAX_CATCH_UP_RUNS,
    is_schedule_id,
    new_schedule_id,
    next_run,
    parse_rule,
    rule_from_json,
    run_job_id,
    runs_between,
)
from query.manifests.model import is_export_id

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MONTHLY = {"every": "month", "day": 1, "at": "02:00", "tz": "Europe/Paris", "format": "csv"}


def test_monthly_rule_runs_on_day_one_local_for_the_previous_month() -> None:
    rule = parse_rule(MONTHLY | {"filters": {"action": "order"}}, NOW)
    assert rule.describe() == "every month on day 1 at 02:00 Europe/Paris, the previous month"
    run = next_run(rule, NOW)
    assert run is not None
    assert run.due_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 02:00 in Paris (UTC+1)
    assert (run.period, run.first, run.last) == ("2026-11", date(2026, 11, 1), date(2026, 11, 30))
    summer = runs_between(rule, datetime(2027, 6, 30, tzinfo=UTC), datetime(2027, 7, 2, tzinfo=UTC))
    assert [r.due_at for r in summer] == [datetime(2027, 7, 1, 0, 0, tzinfo=UTC)]  # UTC+2
    assert rule_from_json(rule.to_json()) == rule


def test_weekly_and_daily_periods() -> None:
    weekly = parse_rule({"every": "week", "day": "Monday", "at": "06:30", "tz": "UTC"}, NOW)
    run = next_run(weekly, NOW)
    assert run is not None and run.due_at == datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
    assert (run.period, run.first, run.last) == ("2026-W47", date(2026, 11, 16), date(2026, 11, 22))
    daily = parse_rule({"every": "day", "at": "00:15", "tz": "Asia/Tokyo"}, NOW)
    run = next_run(daily, NOW)
    assert run is not None and run.period == "2026-11-20" and run.first == run.last
    assert run.due_at == datetime(2026, 11, 20, 15, 15, tzinfo=UTC)
    assert rule_from_json(weekly.to_json()) == weekly


def test_runs_between_is_half_open_and_bounded() -> None:
    daily = parse_rule({"every": "day", "at": "02:00", "tz": "UTC"}, NOW)
    due = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert runs_between(daily, due, due) == []
    assert [r.period for r in runs_between(daily, NOW, due)] == ["2026-11-20"]
    year = runs_between(daily, NOW, datetime(2027, 11, 20, tzinfo=UTC))
    assert len(year) == MAX_CATCH_UP_RUNS and year[-1].period == "2027-11-18"


def test_run_ids_are_export_ids_derived_from_schedule_and_period() -> None:
    sid = new_schedule_id()
    assert is_schedule_id(sid) and not is_schedule_id("sch_x")
    first = run_job_id(sid, "2026-11")
    assert is_export_id(first) and first == run_job_id(sid, "2026-11")
    assert first != run_job_id(sid, "2026-12") and first != run_job_id(new_schedule_id(), "2026-11")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"tz": "Mars/Olympus"}, "tz", "unknown time zone"),
        ({"every": "hour"}, "every", "not one of"),
        ({"day": 31}, "day", "not a day every month has"),
        ({"day": 0}, "day", "not a day every month has"),
        ({"at": "25:00"}, "at", "HH:MM"),
        ({"at": None}, "at", "required"),
        ({"format": "docx"}, "format", "unknown format"),
        ({"lang": "de"}, "lang", "unsupported language"),
        ({"starts": "2026-11-01"}, "starts", "in the past"),
        ({"until": "2026-11-19"}, "until", "in the past"),
        ({"until": "2026-11-25"}, "until", "would never run"),
        ({"filters": {"colour": "red"}}, "filters.colour", "unknown filter"),
        ({"filters": "action=order"}, "filters", "must be an object"),
        ({"cron": "* * * * *"}, "cron", "unknown field"),
    ],
)
def test_bad_rules_are_400s_naming_the_field(
    change: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_rule(MONTHLY | change, NOW)
    assert caught.value.message.startswith(f"{field}: ") and reason in caught.value.message


def test_weekday_and_daily_day_rules() -> None:
    with pytest.raises(BadQuery, match=r"day: .*weekday"):
        parse_rule({"every": "week", "day": "someday", "at": "01:00"}, NOW)
    with pytest.raises(BadQuery, match="day: must be absent"):
        parse_rule({"every": "day", "day": 3, "at": "01:00"}, NOW)
    assert parse_rule({"every": "week", "day": 7, "at": "01:00"}, NOW).day == 7
