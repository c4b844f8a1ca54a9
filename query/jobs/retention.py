"""How long a finished job's file is kept, and which files are past it.

The retention in force is this process's setting, not the one in force when
a job ended: shortening it takes effect for files already on disk.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from query.jobs.model import DONE, Job, JobTable

# The sweep looks this often, or four times per retention period when that is shorter.
SWEEP_EVERY: Final = 60.0


def retention_deadline(finished: datetime, hours: float) -> datetime:
    return finished + timedelta(hours=hours)


def retained(job: Job, hours: float) -> Job:
    """A finished job with its expiry from a retention of `hours`; any other job as it is."""
    if job.state != DONE or job.finished_at is None:
        return job
    return replace(job, expires_at=retention_deadline(job.finished_at, hours))


def expired(table: JobTable, hours: float, now: datetime) -> list[Job]:
    """The finished jobs whose file is past its retention at `now`, their expiry set."""
    jobs = (retained(stored, hours) for stored in table.in_states(frozenset({DONE})))
    return [job for job in jobs if job.expires_at is not None and job.expires_at <= now]


def sweep_interval(hours: float) -> float:
    """Seconds between two sweeps for a retention of `hours` (at least half a second)."""
    return min(SWEEP_EVERY, max(0.5, hours * 3600 / 4))
