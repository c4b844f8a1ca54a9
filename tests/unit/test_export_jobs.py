"""Export jobs' pure parts: HTTP Range parsing, request validation, state and progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.errors import BadQuery, ConfigError, RangeNotSatisfiable
from common.settings import Settings
from query.http.range import ByteRange, etag_for, if_range_matches, parse_range
from query.jobs.model import (
    DONE,
    EXPIRED,
    RUNNING,
    JobRequest,
    job_request,
    new_job,
    status_body,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99, 1000)),
        ("bytes=500-", ByteRange(500, 999, 1000)),
        ("bytes=900-5000", ByteRange(900, 999, 1000)),
        ("bytes=-100", ByteRange(900, 999, 1000)),
        ("bytes=-5000", ByteRange(0, 999, 1000)),
        (" Bytes = 10-19 ", ByteRange(10, 19, 1000)),
    ],
)
def test_one_byte_range_is_honoured(header: str, expected: ByteRange) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header", [None, "", "items=0-9", "bytes=0-9,20-29", "bytes=9-0", "bytes=a-", "bytes=-", "x"]
)
def test_other_or_malformed_ranges_get_the_whole_file(header: str | None) -> None:
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-2000", "bytes=-0"])
def test_a_range_past_the_end_is_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_content_range_and_length() -> None:
    got = parse_range("bytes=10-19", 1000)
    assert got is not None
    assert got.content_range() == "bytes 10-19/1000"
    assert got.length == 10


def test_if_range_must_name_the_current_etag() -> None:
    tag = etag_for("ab" * 32)
    assert if_range_matches(None, tag)
    assert if_range_matches(tag, tag)
    assert not if_range_matches('"other"', tag)
    assert not if_range_matches("Wed, 21 Oct 2026 07:28:00 GMT", tag)


def test_job_request_resolves_the_range_once_and_keeps_only_given_filters() -> None:
    req = job_request(
        {
            "from": "2025-03-01",
            "to": "2025-03-31",
            "tz": "Europe/Paris",
            "action": "order",
            "q": "",
        },
        NOW,
    )
    assert req.start == datetime(2025, 2, 28, 23, 0, tzinfo=UTC)
    assert req.end == datetime(2025, 3, 31, 22, 0, tzinfo=UTC)  # 1 April, Paris
    assert req.filters == {"action": "order"}
    assert (req.format, req.lang) == ("csv", "en")
    assert JobRequest.from_json(req.to_json()) == req


def test_job_request_defaults_to_the_most_recent_month() -> None:
    req = job_request({}, NOW)
    assert req.end - req.start == timedelta(days=30)
    assert (req.from_, req.to) == ("2026-10-29", "2026-11-27")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"format": "xls"}, "format"),
        ({"lang": "de"}, "lang"),
        ({"from": "2025-02-30"}, "from"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ({"limit": "5"}, "limit"),
        ({"customer": ["a"]}, "customer"),
    ],
)
def test_bad_job_requests_name_the_parameter(params: dict[str, object], param: str) -> None:
    with pytest.raises(BadQuery) as caught:
        job_request(params, NOW)
    assert caught.value.param == param


def test_progress_state_and_expiry() -> None:
    req = job_request({"from": "2025-03-01", "to": "2025-03-31", "format": "jsonl"}, NOW)
    job = new_job("exp_x", "ptn-1", "key:abc", req, NOW)
    assert job.progress() is None
    assert job.file_name == "activity-2025-03-01_2025-03-31-exp_x.jsonl"
    running = job.advance(NOW, state=RUNNING, rows_total=200, rows_written=50)
    assert running.version == job.version + 1
    assert running.progress() == 0.25
    done = running.advance(NOW, state=DONE, expires_at=NOW + timedelta(hours=1))
    assert done.progress() == 1.0
    assert done.effective_state(NOW) == DONE
    assert done.effective_state(NOW + timedelta(hours=2)) == EXPIRED
    body = status_body(done, NOW + timedelta(hours=2))
    assert body["state"] == EXPIRED and body["download_url"] is None
    assert status_body(done, NOW)["download_url"] == "/api/v1/exports/exp_x/download"


def test_jobs_are_partner_scoped() -> None:
    req = job_request({}, NOW)
    mine = new_job("exp_x", "ptn-1", "k", req, NOW)
    assert mine.visible_to("ptn-1") and mine.visible_to(None)
    assert not mine.visible_to("ptn-2")
    admin = new_job("exp_y", None, "k", req, NOW)
    assert admin.partner_id == "*" and admin.scope is None
    assert not admin.visible_to("ptn-1")


def test_export_dir_and_retention_settings() -> None:
    default = Settings.from_env({"ACTIVITYLOG_STATE_DIR": "/var/lib/al"})
    assert default.export_path == Path("/var/lib/al/exports")
    assert default.export_retention_hours == 24.0
    chosen = Settings.from_env(
        {"ACTIVITYLOG_EXPORT_DIR": "/srv/exports", "ACTIVITYLOG_EXPORT_RETENTION_HOURS": "0.5"}
    )
    assert chosen.export_path == Path("/srv/exports")
    assert chosen.export_retention_hours == 0.5
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="ACTIVITYLOG_EXPORT_RETENTION_HOURS"):
            Settings.from_env({"ACTIVITYLOG_EXPORT_RETENTION_HOURS": bad})
