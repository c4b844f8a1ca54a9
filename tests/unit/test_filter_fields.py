"""One list of optional filters (`FILTER_FIELDS`): the CLI, its HTTP client and jobs read it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from activitylog.cli.query import cli_request
from query.client import Request
from query.filters import FILTER_FIELDS, ActivityFilter
from query.jobs.model import job_request

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_the_cli_options_map_onto_the_filter_fields_in_order() -> None:
    values = [f"value-{i}" for i in range(len(FILTER_FIELDS))]
    req = cli_request("2026-11-01", None, "Europe/Paris", *values)
    filters = dict(zip(FILTER_FIELDS, values, strict=True))
    expected = {"from": "2026-11-01", "tz": "Europe/Paris"} | filters
    assert req.params() == expected
    with pytest.raises(ValueError):  # one option too few: the list and the CLI disagree
        cli_request(None, None, None, *values[:-1])


def test_a_request_sends_only_the_filters_asked_for_and_reads_them_back() -> None:
    req = Request("2026-11-01", "2026-11-30", filters={"customer": "Café", "q": None})
    assert req.params() == {"from": "2026-11-01", "to": "2026-11-30", "customer": "Café"}
    assert req.filter().filters() == {"customer": "Café"}
    with pytest.raises(TypeError, match="customer_name"):
        Request(filters={"customer_name": "x"})


def test_a_job_runs_the_filters_it_was_given() -> None:
    wanted = job_request({"from": "2026-11-01", "action": "order", "status": "failed"}, NOW)
    flt = wanted.activity_filter("ptn-a")
    assert flt.partner_id == "ptn-a"
    assert flt.filters() == {"action": "order", "status": "failed"}


def test_the_filter_fields_are_the_filters_optional_fields() -> None:
    optional = [f.name for f in fields(ActivityFilter) if f.name not in ("range", "partner_id")]
    assert tuple(optional) == FILTER_FIELDS
