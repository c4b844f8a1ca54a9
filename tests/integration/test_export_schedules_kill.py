"""A schedule fires exactly once per period across kill -9, with a clock the test controls.

The runner runs in a child process (tests/fixtures/schedule_process.py) on the
real chDB store; the test moves the clock through a file and kills the child
with SIGKILL before the due time, and again just after it created the run's
job. After each restart the period still has one job and, once done, one
manifest; a run missed while no process ran is created at the next start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from common.store import Store
from query.jobs.schedules import ScheduleTable, new_schedule, parse_rule, run_job_id
from schemas.migrate import open_migrated
from schemas.tables import JOBS_TABLE, MANIFESTS_TABLE
from tests.fixtures.activity import dataset, insert
from tests.fixtures.serve import wait_until

ROOT = Path(__file__).resolve().parents[2]
CREATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RULE = {"every": "month", "day": 1, "at": "02:00", "tz": "Europe/Paris", "format": "csv"}


class Child:
    """One run of the child runner process, killed with SIGKILL by the test."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.tmp, self.url = tmp, url
        self.status_file = tmp / "status.json"
        self.status_file.unlink(missing_ok=True)
        log = (tmp / "child.log").open("ab")
        args = [str(tmp / "state"), str(tmp / "clock"), str(self.status_file)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.schedule_process", url, *args],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env=dict(os.environ),
        )

    def status(self) -> dict[str, Any] | None:
        assert self.proc.poll() is None, (self.tmp / "child.log").read_text()
        try:
            found: dict[str, Any] = orjson.loads(self.status_file.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return found if found["pid"] == self.proc.pid else None

    def jobs(self, clock: str) -> dict[str, str] | None:
        """The jobs' states, once the child has looked at `clock`."""
        seen = self.status()
        return seen["jobs"] if seen is not None and seen["clock"] == clock else None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL


def _set_clock(tmp: Path, at: datetime) -> str:
    (tmp / "clock").write_text(at.isoformat())
    return at.isoformat()


def test_one_export_per_period_across_kill_9(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    store = open_migrated(url)
    insert(store, dataset())
    schedule = ScheduleTable(store).save(
        new_schedule("ptn-a", "key:ana", parse_rule(RULE, CREATED), CREATED)
    )
    store.close()  # one process at a time on an embedded store
    november = run_job_id(schedule.schedule_id, "2026-11")

    before = _set_clock(tmp_path, datetime(2026, 12, 1, 0, 59, tzinfo=UTC))
    child = Child(tmp_path, url)
    assert wait_until(lambda: child.jobs(before) is not None, 120, "the first look") is not None
    assert child.jobs(before) == {}  # not yet due
    child.kill()

    # The due time passes while no process runs: the next start creates the run.
    after = _set_clock(tmp_path, datetime(2026, 12, 1, 5, 0, tzinfo=UTC))
    child = Child(tmp_path, url)
    wait_until(lambda: november in (child.jobs(after) or {}), 120, "the missed run's job")
    child.kill()  # queued, running or just sealed: whichever, it must not run twice

    child = Child(tmp_path, url)
    done = wait_until(
        lambda: (child.jobs(after) or {}).get(november) == "done", 120, "the run done"
    )
    assert done
    assert list(child.jobs(after) or {}) == [november]
    child.kill()

    store = Store.open(url)
    try:
        job_ids = store.query_rows(f"SELECT DISTINCT job_id FROM {JOBS_TABLE}")  # noqa: S608
        assert [row[0] for row in job_ids] == [november]
        sealed = store.query_rows(
            f"SELECT count() FROM {MANIFESTS_TABLE} WHERE export_id = {{id:String}}",  # noqa: S608
            {"id": november},
        )
        assert sealed[0][0] == 1  # one manifest: one export, one link of ptn-a's chain
    finally:
        store.close()
    files = list((tmp_path / "state" / "exports").glob(f"*{november}*"))
    assert len(files) == 1 and files[0].suffix == ".csv"
