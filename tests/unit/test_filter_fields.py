"""One list of optional filters (`FILTER_FIELDS`): the CLI, its HTTP client and jobs read it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from activitylog.cli.query import cli_request
from query.client import Request
from query.filters import FILTER_FIELDS, ActivityFilter, name_index_run
from query.jobs.model import job_request
from query.ranges import TimeRange

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


def _filter(**chosen: str | None) -> ActivityFilter:
    range_ = TimeRange(start=NOW - timedelta(days=30), end=NOW, tz="UTC")
    return ActivityFilter(range=range_, **chosen)  # type: ignore[arg-type]


def test_the_key_conditions_are_the_where_clauses_on_sort_key_columns_only() -> None:
    flt = _filter(partner_id="ptn-a", customer_id="c-1", q="x")
    where, params = flt.where()
    key = flt.key_where()
    assert where.startswith(key + " AND ")
    assert "partner_id = {partner_id:String}" in key and "customer_id" not in key
    assert {"start", "end", "partner_id"} <= params.keys()
    assert "partner_id" not in _filter(partner_id=None).key_where()


def test_the_name_filter_adds_the_lowered_ascii_run_the_index_answers() -> None:
    assert name_index_run("Småföretag AB") == "retag ab"
    assert name_index_run("CONTOSO") == "contoso"
    assert name_index_run("ab") is None and name_index_run("Ölçü") is None
    where, params = _filter(customer="Café Élodie").where()
    assert "positionCaseInsensitiveUTF8(customer_name, {customer:String})" in where
    assert "multiSearchAny(lowerUTF8(customer_name), [{customer_run:String}])" in where
    assert params["customer"] == "Café Élodie" and params["customer_run"] == "lodie"
    where, params = _filter(customer="Öl").where()
    assert "lowerUTF8" not in where and "customer_run" not in params
