"""Export jobs for long ranges: what a job asked for, its state, and where both are kept.

A job is one export (any format) written to a file on disk by a background
runner (`query.jobs.runner`). Its state lives in the store
(`export_jobs`, one row per change, the highest `version` wins) so it
survives a restart of the server; its file lives under
`ACTIVITYLOG_EXPORT_DIR`. This module holds the plain data and the SQL;
the runner holds the threads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from common.errors import BadQuery
from common.settings import ALL_PARTNERS
from common.store import Store
from common.timefmt import iso_utc
from query.exports.formats import EXPORT_EXTENSIONS, check_export
from query.filters import FILTER_FIELDS, ActivityFilter
from query.ranges import TimeRange, resolve_range
from schemas.tables import JOBS_TABLE

QUEUED: Final = "queued"
RUNNING: Final = "running"
DONE: Final = "done"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
EXPIRED: Final = "expired"  # the file was removed after the retention period
DELETED: Final = "deleted"  # the file was removed on request (DELETE on a finished job)
ACTIVE_STATES: Final = frozenset({QUEUED, RUNNING})


@dataclass(frozen=True)
class JobRequest:
    """What a job exports: the range as asked and as resolved, filters, format, language.

    The resolved UTC bounds are kept so a job restarted after a crash reads
    exactly the range it was started with (a closed range gives the same bytes).
    """

    from_: str
    to: str
    tz: str
    start: datetime
    end: datetime
    filters: dict[str, str]
    format: str
    lang: str

    def activity_filter(self, partner_id: str | None) -> ActivityFilter:
        """The read the job runs, scoped to `partner_id` (None = every partner)."""
        time_range = TimeRange(start=self.start, end=self.end, tz=self.tz)
        return ActivityFilter.from_params(time_range, partner_id, self.filters)

    def to_json(self) -> str:
        body = {
            "from": self.from_,
            "to": self.to,
            "tz": self.tz,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "filters": self.filters,
            "format": self.format,
            "lang": self.lang,
        }
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str) -> JobRequest:
        body = orjson.loads(text)
        return cls(
            from_=body["from"],
            to=body["to"],
            tz=body["tz"],
            start=_instant(body["start"]),
            end=_instant(body["end"]),
            filters=dict(body["filters"]),
            format=body["format"],
            lang=body["lang"],
        )

    def file_name(self, job_id: str) -> str:
        """The file's name on disk and in the download's Content-Disposition."""
        first, last = TimeRange(self.start, self.end, self.tz).label()
        return f"activity-{first}_{last}-{job_id}.{EXPORT_EXTENSIONS[self.format]}"


def job_request(params: Mapping[str, Any], now: datetime) -> JobRequest:
    """Validate a POST's parameters (query string and/or JSON body) into a JobRequest.

    The same names as the direct export (`from`, `to`, `tz`, filters,
    `format`, `lang`); both dates omitted = the most recent month, as there.
    """
    text: dict[str, str] = {}
    for name, value in params.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise BadQuery(name, "must be a string")
        text[name] = str(value)
    known = {"from", "to", "tz", "format", "lang", *FILTER_FIELDS}
    unknown = sorted(set(text) - known)
    if unknown:
        raise BadQuery(unknown[0], f"unknown parameter (use {', '.join(sorted(known))})")
    fmt, lang = text.get("format", "csv"), text.get("lang", "en")
    check_export(fmt, lang)
    span = resolve_range(text.get("from"), text.get("to"), text.get("tz"), now)
    first, last = span.label()
    return JobRequest(
        from_=text.get("from") or first,
        to=text.get("to") or last,
        tz=span.tz,
        start=span.start,
        end=span.end,
        filters={name: text[name] for name in FILTER_FIELDS if name in text},
        format=fmt,
        lang=lang,
    )


class PartnerOwned:
    """What a job or a schedule belongs to: one partner, or `*` for every-partner keys."""

    partner_id: str

    @property
    def scope(self) -> str | None:
        """The partner it reads (None = every partner)."""
        return None if self.partner_id == ALL_PARTNERS else self.partner_id

    def visible_to(self, partner_id: str | None) -> bool:
        """Partner-scoped like every read: an every-partner caller sees all of them."""
        return partner_id is None or partner_id == self.partner_id


@dataclass(frozen=True)
class Job(PartnerOwned):
    """One job's latest recorded state."""

    job_id: str
    partner_id: str  # ALL_PARTNERS for a job started with an every-partner key
    created_by: str
    created_at: datetime
    request: JobRequest
    state: str = QUEUED
    version: int = 0
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    rows_written: int = 0
    rows_total: int = 0
    bytes_written: int = 0
    file_name: str = ""
    sha256: str = ""
    error: str = ""
    finished_at: datetime | None = None
    expires_at: datetime | None = None

    def effective_state(self, now: datetime) -> str:
        """The state, with a done job past its retention shown as expired before the sweep."""
        if self.state == DONE and self.expires_at is not None and self.expires_at <= now:
            return EXPIRED
        return self.state

    def progress(self) -> float | None:
        """Done fraction 0..1 (rows written against the estimate); None when unknown."""
        if self.state == DONE:
            return 1.0
        if self.rows_total <= 0:
            return None
        return min(1.0, self.rows_written / self.rows_total)

    def advance(self, now: datetime, **changes: Any) -> Job:
        """The next version of this job with `changes` applied."""
        return replace(self, version=self.version + 1, updated_at=now, **changes)


def new_job(
    job_id: str, partner_id: str | None, created_by: str, request: JobRequest, now: datetime
) -> Job:
    return Job(
        job_id=job_id,
        partner_id=ALL_PARTNERS if partner_id is None else partner_id,
        created_by=created_by,
        created_at=now,
        request=request,
        updated_at=now,
        version=1,
        file_name=request.file_name(job_id),
    )


_COLUMNS: Final = (
    "job_id",
    "version",
    "partner_id",
    "created_by",
    "created_at",
    "updated_at",
    "state",
    "request",
    "rows_written",
    "rows_total",
    "bytes_written",
    "file_name",
    "sha256",
    "error",
    "finished_at",
    "expires_at",
)
_LATEST: Final = "ORDER BY version DESC LIMIT 1 BY job_id"


class JobTable:
    """The `export_jobs` table: write a job's new version, read the latest ones.

    Writes are serialized by a lock so versions of one job are inserted in
    order (merges keep the last inserted row, readers the highest version).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()

    def save(self, job: Job) -> None:
        row = (
            job.job_id,
            job.version,
            job.partner_id,
            job.created_by,
            job.created_at,
            job.updated_at,
            job.state,
            job.request.to_json(),
            job.rows_written,
            job.rows_total,
            job.bytes_written,
            job.file_name,
            job.sha256,
            job.error,
            job.finished_at,
            job.expires_at,
        )
        with self._lock:
            self.store.insert_columns(JOBS_TABLE, [[v] for v in row], _COLUMNS)

    def get(self, job_id: str) -> Job | None:
        rows = self.store.query_rows(
            f"SELECT {', '.join(_COLUMNS)} FROM {JOBS_TABLE} "  # noqa: S608 - our constants
            f"WHERE job_id = {{id:String}} {_LATEST}",
            {"id": job_id},
        )
        return _job(rows[0]) if rows else None

    def latest_of(self, job_ids: list[str]) -> dict[str, Job]:
        """The latest state of each of `job_ids` that is a job (a direct export is not)."""
        if not job_ids:
            return {}
        rows = self.store.query_rows(
            f"SELECT {', '.join(_COLUMNS)} FROM {JOBS_TABLE} "  # noqa: S608 - our constants
            f"WHERE job_id IN {{ids:Array(String)}} {_LATEST}",
            {"ids": job_ids},
        )
        jobs = [_job(row) for row in rows]
        return {job.job_id: job for job in jobs}

    def in_states(self, states: frozenset[str]) -> list[Job]:
        """Every job whose latest state is one of `states`, oldest first."""
        rows = self.store.query_rows(
            f"SELECT * FROM (SELECT {', '.join(_COLUMNS)} FROM {JOBS_TABLE} "  # noqa: S608
            f"{_LATEST}) WHERE state IN {{states:Array(String)}} ORDER BY created_at",
            {"states": sorted(states)},
        )
        return [_job(row) for row in rows]


def _job(row: tuple[Any, ...]) -> Job:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["request"] = JobRequest.from_json(values["request"])
    for name in ("created_at", "updated_at", "finished_at", "expires_at"):
        value = values[name]
        if isinstance(value, datetime) and value.tzinfo is None:
            values[name] = value.replace(tzinfo=UTC)
    return Job(**values)


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise BadQuery("request", f"{text!r} is not an RFC 3339 instant") from None


def status_body(job: Job, now: datetime) -> dict[str, Any]:
    """A job as `GET /api/v1/exports/{id}` shows it (docs/contracts.md style: JSON, UTC ISO)."""
    state = job.effective_state(now)
    base = f"/api/v1/exports/{job.job_id}"
    req = job.request
    body: dict[str, Any] = {
        "id": job.job_id,
        "url": base,
        "state": state,
        "partner_id": job.partner_id,
        "created_by": job.created_by,
        "created_at": iso_utc(job.created_at),
        "updated_at": iso_utc(job.updated_at),
        "request": {
            "from": req.from_,
            "to": req.to,
            "tz": req.tz,
            "filters": req.filters,
            "format": req.format,
            "lang": req.lang,
        },
        "rows_written": job.rows_written,
        "rows_total_estimate": job.rows_total,
        "progress": job.progress(),
        "bytes_written": job.bytes_written,
        "file_name": job.file_name,
        "download_url": f"{base}/download" if state == DONE else None,
        "manifest_url": f"{base}/manifest" if state == DONE else None,
        "sha256": job.sha256 or None,
        "error": job.error or None,
        "finished_at": iso_utc(job.finished_at) if job.finished_at else None,
        "expires_at": iso_utc(job.expires_at) if job.expires_at else None,
    }
    return body
