"""Scheduled runs on the real stack: `serve` fires the runs missed while it was down, once.

A daily schedule is stored before `activitylog serve` (real broker, Faust
worker, chDB) first starts, made two days earlier: the runs due since then
were missed. At start the server creates each run's export job; each is
sealed, listed in the history as scheduled, and audited as an
`export.create` activity marked scheduled, consumed back from Kafka into the
partner's log. A restart (SIGTERM, then start) creates nothing more.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from query.jobs.schedules import ScheduleTable, new_schedule, parse_rule, run_job_id, runs_between
from schemas.migrate import open_migrated
from tests.fixtures.serve import ServeProcess, wait_until

KEY = f"k-sched-{uuid.uuid4().hex}"


def _scheduled(serve: ServeProcess) -> dict[str, dict[str, Any]]:
    items = serve.get("/api/v1/exports", KEY, limit=500).json()["items"]
    return {item["id"]: item for item in items if item["kind"] == "scheduled"}


def _audited(serve: ServeProcess) -> dict[str, dict[str, Any]]:
    response = serve.get("/api/v1/activity", KEY, action="export.create", limit=1000)
    assert response.status_code == 200, response.text
    return {item["resource_id"]: item for item in response.json()["items"]}


def test_missed_runs_are_made_once_sealed_and_audited_as_scheduled(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-sched-{uuid.uuid4().hex[:8]}"
    serve = ServeProcess(
        kafka_bootstrap,
        tmp_path,
        ACTIVITYLOG_API_KEYS=f"ana:{KEY}={partner}",
        ACTIVITYLOG_CONSUMER_GROUP=f"g-{partner}",
    )
    now = datetime.now(UTC)
    made_at = now - timedelta(days=2, hours=1)
    rule = parse_rule({"every": "day", "at": "00:00", "tz": "UTC", "format": "jsonl"}, made_at)
    store = open_migrated(serve.env["ACTIVITYLOG_CLICKHOUSE_URL"])
    schedule = ScheduleTable(store).save(new_schedule(partner, "key:ana", rule, made_at))
    store.close()  # `serve` holds the embedded store from here on
    expected = {
        run_job_id(schedule.schedule_id, run.period) for run in runs_between(rule, made_at, now)
    }
    assert len(expected) >= 2

    serve.start()
    try:
        listed = wait_until(
            lambda: (found := _scheduled(serve)) and set(found) == expected and found,
            120,
            "the missed runs sealed",
        )
        for item in listed.values():
            assert item["key"] == "ana" and item["schedule_id"] == schedule.schedule_id
            assert item["downloadable"] and item["format"] == "jsonl"
        audited = wait_until(
            lambda: (found := _audited(serve)) and expected <= set(found) and found,
            120,
            "the runs' export.create activities",
        )
        by = f"schedule:{schedule.schedule_id} via key:ana"
        for export_id in expected:
            details = audited[export_id]["details"]
            assert details["scheduled"] is True
            assert details["schedule_id"] == schedule.schedule_id
            assert audited[export_id]["partner_user"] == by
    finally:
        assert serve.stop() == 0, serve.log()

    serve.start()  # the runner looks again at start: every period already has its export
    try:
        assert set(_scheduled(serve)) == expected
        jobs = [serve.get(f"/api/v1/exports/{job_id}", KEY).json() for job_id in expected]
        assert {job["state"] for job in jobs} == {"done"}
    finally:
        assert serve.stop() == 0, serve.log()
