"""Scheduled exports on the real store, with a clock the test moves: one export per period.

A real chDB store, the real app (TestClient), ledger and job runner. The
runner's clock is the test's: the test moves it across due times and asks
the runner to look (`fire_schedules`, what its scheduler thread does every
30 s), then waits on the job's state. The kill -9 case is in
test_export_schedules_kill.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from activitylog.cli import main
from common.settings import Settings
from common.store import Store
from query.http.app import create_api
from query.http.routes import schedules as schedule_routes
from query.jobs.runner import ExportJobRunner
from query.jobs.schedules import run_job_id
from query.manifests.audit import finished_event
from query.manifests.ledger import ExportLedger
from schemas.migrate import open_migrated
from schemas.tables import MANIFESTS_TABLE
from tests.fixtures.activity import dataset, insert
from tests.fixtures.serve import wait_until

KEYS = {"ana:key-a": "ptn-a", "bob:key-b": "ptn-b", "key-admin": "*"}
A, B, ADMIN = ({"Authorization": f"Bearer {k}"} for k in ("key-a", "key-b", "key-admin"))
MONTHLY = {"every": "month", "day": 1, "at": "02:00", "tz": "Europe/Paris", "format": "jsonl"}


class Clock:
    """The time the API and the runner see; only the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Stack:
    client: TestClient
    jobs: ExportJobRunner
    store: Store
    clock: Clock
    root: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("schedules")
    store = open_migrated(f"chdb://{root / 'ch'}")
    insert(store, dataset())
    clock = Clock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    settings = Settings(state_dir=root / "state", api_keys=KEYS)
    ledger = ExportLedger(store, settings, now=clock)
    jobs = ExportJobRunner(
        settings,
        store,
        ledger=ledger,
        open_reader=lambda: Store.open(f"chdb://{root / 'ch'}"),
        now=clock,
    )
    jobs.start()
    try:
        app = create_api(store, settings, now=clock, jobs=jobs, ledger=ledger)
        with TestClient(app) as client:
            yield Stack(client, jobs, store, clock, root)
    finally:
        jobs.stop()
        store.close()


def _done(stack: Stack, job_id: str) -> None:
    def finished() -> bool:
        job = stack.jobs.get(job_id)
        assert job is not None and job.state in ("queued", "running", "done"), job
        return job.state == "done"

    wait_until(finished, 60, f"job {job_id} done", every=0.05)


def _manifests(store: Store, export_id: str) -> int:
    rows = store.query_rows(
        f"SELECT count() FROM {MANIFESTS_TABLE} WHERE export_id = {{id:String}}",  # noqa: S608
        {"id": export_id},
    )
    return int(rows[0][0])


def test_a_schedule_fires_once_per_period(stack: Stack) -> None:
    client, clock = stack.client, stack.clock
    created = client.post(
        "/api/v1/schedules", json=MONTHLY | {"filters": {"action": "subscription"}}, headers=A
    )
    assert created.status_code == 201, created.text
    schedule: dict[str, Any] = created.json()
    sid = schedule["id"]
    assert schedule["next_run_at"] == "2026-12-01T01:00:00.000Z"  # 02:00 in Paris
    assert schedule["next_period"] == "2026-11" and schedule["created_by"] == "key:ana"
    assert [s["id"] for s in client.get("/api/v1/schedules", headers=A).json()["items"]] == [sid]
    assert client.get("/api/v1/schedules", headers=B).json()["items"] == []
    assert client.get(f"/api/v1/schedules/{sid}", headers=B).status_code == 404

    clock.now = datetime(2026, 12, 1, 0, 59, 59, tzinfo=UTC)  # one second before
    assert stack.jobs.fire_schedules() == []
    clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # due
    fired = stack.jobs.fire_schedules()
    november = run_job_id(sid, "2026-11")
    assert [job.job_id for job in fired] == [november]
    assert stack.jobs.fire_schedules() == []  # looked again: the period has its job
    _done(stack, november)
    assert stack.jobs.fire_schedules() == []
    assert _manifests(stack.store, november) == 1

    history = client.get("/api/v1/exports", headers=A).json()["items"]
    item = next(i for i in history if i["id"] == november)
    assert (item["kind"], item["schedule_id"], item["key"]) == ("scheduled", sid, "ana")
    assert item["from"] == "2026-10-31T23:00:00.000Z" and item["to"] == "2026-11-30T23:00:00.000Z"
    assert item["filters"] == {"action": "subscription"} and item["downloadable"]
    assert item["created_by"] == f"schedule:{sid} via key:ana"
    assert november not in [
        i["id"] for i in client.get("/api/v1/exports", headers=B).json()["items"]
    ]
    manifest = client.get(f"/api/v1/exports/{november}/manifest", headers=A).json()
    event = finished_event(manifest, source="test")
    assert event["action"] == "export.create" and event["details"]["scheduled"] is True
    assert event["details"]["schedule_id"] == sid

    # Down through December and January: both missed runs come at the next look.
    clock.now = datetime(2027, 2, 3, 9, 0, tzinfo=UTC)
    missed = [job.job_id for job in stack.jobs.fire_schedules()]
    assert missed == [run_job_id(sid, "2026-12"), run_job_id(sid, "2027-01")]
    for job_id in missed:
        _done(stack, job_id)
    assert stack.jobs.fire_schedules() == []

    deleted = client.delete(f"/api/v1/schedules/{sid}", headers=A)
    assert deleted.status_code == 200 and deleted.json()["state"] == "deleted"
    clock.now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    assert stack.jobs.fire_schedules() == []
    assert client.get("/api/v1/schedules", headers=A).json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tz": "Europe/Atlantis"}, "tz"),
        ({"day": 30}, "day"),
        ({"every": "fortnight"}, "every"),
        ({"format": "docx"}, "format"),
        ({"until": "2020-01-01"}, "until"),
    ],
)
def test_bad_schedules_are_400_naming_the_field(
    stack: Stack, change: dict[str, Any], field: str
) -> None:
    response = stack.client.post("/api/v1/schedules", json=MONTHLY | change, headers=A)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request" and error["message"].startswith(f"{field}: ")


def test_the_admin_sees_every_schedule_and_a_partner_cannot_delete_anothers(stack: Stack) -> None:
    client = stack.client
    sid = client.post("/api/v1/schedules", json=MONTHLY, headers=B).json()["id"]
    assert sid in [s["id"] for s in client.get("/api/v1/schedules", headers=ADMIN).json()["items"]]
    assert client.delete(f"/api/v1/schedules/{sid}", headers=A).status_code == 404
    assert client.get(f"/api/v1/schedules/{sid}", headers=B).json()["state"] == "active"
    assert client.delete(f"/api/v1/schedules/{sid}", headers=B).json()["state"] == "deleted"


def test_cli_adds_lists_and_removes_schedules_on_the_store(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", f"chdb://{stack.root / 'ch'}")
    monkeypatch.setenv("ACTIVITYLOG_STATE_DIR", str(stack.root / "cli-state"))
    add = ["schedules", "add", "--every", "week", "--day", "monday", "--at", "06:30"]
    assert (
        main([*add, "--tz", "Europe/Paris", "--filter", "action=order", "--partner", "ptn-a"]) == 0
    )
    added = capsys.readouterr().out
    sid = added.split(":", 1)[0]
    assert "every monday at 06:30 Europe/Paris, the previous week" in added
    assert main(["schedules", "list", "--json"]) == 0
    listed = orjson.loads(capsys.readouterr().out)["items"]
    mine = next(s for s in listed if s["id"] == sid)
    assert mine["partner_id"] == "ptn-a" and mine["rule"]["filters"] == {"action": "order"}
    assert mine["created_by"].startswith("os:")
    assert sid in [
        s["id"] for s in stack.client.get("/api/v1/schedules", headers=A).json()["items"]
    ]
    assert main(["schedules", "remove", sid]) == 0
    assert capsys.readouterr().out.strip() == f"removed {sid}"
    assert main(["schedules", "list"]) == 0
    assert sid not in capsys.readouterr().out

    assert main([*add, "--tz", "Nowhere/Land"]) == 2
    assert "tz: unknown time zone" in capsys.readouterr().err
    assert main(["schedules", "remove", "sch_nothing"]) != 0


def test_a_partner_has_at_most_max_schedules(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule_routes, "MAX_SCHEDULES", 2)
    made = [
        stack.client.post("/api/v1/schedules", json=MONTHLY, headers=B).json()["id"]
        for _ in range(2)
    ]
    refused = stack.client.post("/api/v1/schedules", json=MONTHLY, headers=B)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_schedules"
    assert stack.client.post("/api/v1/schedules", json=MONTHLY, headers=A).status_code == 201
    stack.client.delete(f"/api/v1/schedules/{made[0]}", headers=B)
    assert stack.client.post("/api/v1/schedules", json=MONTHLY, headers=B).status_code == 201
