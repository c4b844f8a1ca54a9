"""The background runner of export jobs: one job at a time, streamed to disk, resumable.

Why a runner of its own: a multi-year export can take minutes, longer than
an HTTP request should live. The runner writes the export to a temp name
under `ACTIVITYLOG_EXPORT_DIR` and renames it when complete, records
progress in the store at least once a second, seals the finished file with
the export ledger (its manifest) and records a failure or a cancel there
too. It reads through a `Store` of its own, so the page and the worker
never wait for a job. At start-up it restarts the jobs a previous process
left queued or running (a closed range gives the same bytes again) and
removes files past their retention.

It also fires scheduled exports (`query.jobs.schedules`): at start-up and
then every `SCHEDULE_TICK` seconds it creates the export job of each run
that is due and has none yet. The job id derives from the schedule and the
period, so a run is created once however many times the runner looks,
across restarts and kill -9; a run missed while the service was down is
created at the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from common.errors import ActivityLogError
from common.settings import ALL_PARTNERS, Settings
from common.store import RecordChunks, Store
from query.exports.formats import export_bytes
from query.jobs.export_file import ExportFile, part_path, remove_stale_parts
from query.jobs.model import (
    ACTIVE_STATES,
    CANCELLED,
    DELETED,
    DONE,
    EXPIRED,
    FAILED,
    QUEUED,
    RUNNING,
    Job,
    JobRequest,
    JobTable,
    new_job,
)
from query.jobs.retention import expired, retained, retention_deadline, sweep_interval
from query.jobs.schedules import (
    ACTIVE,
    Schedule,
    ScheduleTable,
    job_request_for,
    run_job_id,
)
from query.manifests.ledger import ExportLedger
from query.manifests.model import (
    ExportFacts,
    ExportRequestInfo,
    export_request_info,
    scheduled_by,
)
from query.reads.slices import count_activity

log = logging.getLogger(__name__)

# Progress goes to the store at most this often (and on every state change);
# a status request in this process sees the live count in between.
PERSIST_EVERY: Final = 0.5
# How often a paused job looks at its pause file (and at a cancel or a stop).
PAUSE_POLL: Final = 0.05
# How often due schedules are looked for: a run starts at most this late.
SCHEDULE_TICK: Final = 30.0


def request_info(job: Job) -> ExportRequestInfo:
    """What a job asked for, as its manifest records it (the job id is the export id)."""
    req = job.request
    return export_request_info(req.activity_filter(job.scope), req.format, req.lang, job.created_by)


class _Interrupted(Exception):
    """The runner is stopping: leave the job queued for the next start."""


class _Cancelled(Exception):
    """The job was cancelled by its owner."""


class ExportJobRunner:
    """Runs export jobs in a background thread and answers for their state."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        ledger: ExportLedger | None = None,
        open_reader: Callable[[], Store] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.table = JobTable(store)
        self.schedules = ScheduleTable(store)
        self.ledger = ledger
        self.directory = settings.export_path
        self._open_reader = open_reader or (lambda: Store.from_settings(settings))
        self._now = now
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._live: dict[str, Job] = {}
        self._cancel: set[str] = set()
        self._lock = threading.Lock()
        self._fire_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        """Restart jobs left queued or running, sweep expired files, start the threads."""
        self.directory.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(self.directory)
        for job in self.table.in_states(ACTIVE_STATES):
            if job.state == RUNNING:
                log.info("restarting export job %s (interrupted while running)", job.job_id)
                job = self._save(job.advance(self._now(), state=QUEUED, rows_written=0))
            self._queue.put(job.job_id)
        self.sweep()
        self._fire_logged()  # runs missed while the service was down
        threads = (
            (self._work, "export-jobs"),
            (self._sweeper, "export-sweeper"),
            (self._scheduler, "export-schedules"),
        )
        for target, name in threads:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def interrupt(self) -> None:
        """Ask the threads to stop (returns at once); the job in flight stops at its next chunk."""
        self._stopping.set()
        self._queue.put(None)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads; a job in flight stays queued and restarts at the next start."""
        self.interrupt()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    # -- requests -----------------------------------------------------------------

    def submit(
        self, job_id: str, partner_id: str | None, created_by: str, request: JobRequest
    ) -> Job:
        """Record a new queued job and hand it to the worker thread."""
        job = self.create(job_id, partner_id, created_by, request)
        self._queue.put(job.job_id)
        return job

    def create(
        self, job_id: str, partner_id: str | None, created_by: str, request: JobRequest
    ) -> Job:
        """Record a new queued job without queueing it (for `run` in the calling thread)."""
        return self._save(new_job(job_id, partner_id, created_by, request, self._now()))

    def handed_over(self, job: Job) -> Job:
        """Record that a finished job's file was moved away (the CLI took it): no download."""
        return self._save(job.advance(self._now(), state=DELETED))

    def active_count(self, partner_id: str | None) -> int:
        """Jobs queued or running for `partner_id` (None: those of every-partner keys)."""
        scope = ALL_PARTNERS if partner_id is None else partner_id
        return sum(1 for job in self.table.in_states(ACTIVE_STATES) if job.partner_id == scope)

    def get(self, job_id: str) -> Job | None:
        """The job's latest state: live in this process while it runs, else as stored."""
        with self._lock:
            live = self._live.get(job_id)
        if live is not None:
            return live
        stored = self.table.get(job_id)
        return None if stored is None else retained(stored, self.settings.export_retention_hours)

    def cancel(self, job: Job) -> Job:
        """Cancel a queued or running job, or delete a finished job's file."""
        if job.state in ACTIVE_STATES:
            with self._lock:
                self._cancel.add(job.job_id)
                running = job.job_id in self._live
            if not running:  # queued: cancel it here; the worker skips it when it comes up
                return self._finish_cancelled(job, job.rows_written, forget=False)
            return self._wait_final(job.job_id) or job
        if job.state == DONE:
            self.file_path(job).unlink(missing_ok=True)
            return self._save(job.advance(self._now(), state=DELETED))
        return job

    def file_path(self, job: Job) -> Path:
        return self.directory / job.file_name

    def sweep(self) -> int:
        """Remove finished files past their retention; returns how many jobs expired."""
        now = self._now()
        past = expired(self.table, self.settings.export_retention_hours, now)
        for job in past:
            self.file_path(job).unlink(missing_ok=True)
            self._save(job.advance(now, state=EXPIRED))
        return len(past)

    # -- schedules ----------------------------------------------------------------

    def fire_schedules(self) -> list[Job]:
        """Create and queue the job of every due run that has none yet; returns the new jobs."""
        with self._fire_lock:  # one look at a time: two could both see a run without its job
            now = self._now()
            created: list[Job] = []
            for schedule in self.schedules.in_state(ACTIVE):
                created += self._fire(schedule, now)
            return created

    def _fire(self, schedule: Schedule, now: datetime) -> list[Job]:
        runs = schedule.due_runs(now)
        if not runs:
            return []
        ids = [run_job_id(schedule.schedule_id, run.period) for run in runs]
        existing = self.table.latest_of(ids)
        created: list[Job] = []
        for run, job_id in zip(runs, ids, strict=True):
            if job_id in existing:
                continue
            request = job_request_for(schedule.rule, run, now)
            owner = scheduled_by(schedule.schedule_id, schedule.created_by)
            job = self.submit(job_id, schedule.scope, owner, request)
            log.info(
                "schedule %s: export job %s for %s (due %s)",
                schedule.schedule_id,
                job_id,
                run.period,
                run.due_at.isoformat(),
            )
            created.append(job)
        return created

    def _fire_logged(self) -> None:
        try:
            self.fire_schedules()
        except ActivityLogError as exc:  # the store is down: the next tick tries again
            log.warning("firing scheduled exports failed: %s", exc.message)

    def _scheduler(self) -> None:
        while not self._stopping.wait(SCHEDULE_TICK):
            self._fire_logged()

    # -- the work -----------------------------------------------------------------

    def run(self, job: Job, *, progress: Callable[[Job], None] | None = None) -> Job:
        """Run one job to its end in the calling thread (the CLI's in-process path)."""
        return self._run(job, progress)

    def _work(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            job = self.table.get(job_id)
            if job is None or job.state not in ACTIVE_STATES:
                continue
            with self._lock:  # claim it, unless a cancel came first
                if job_id in self._cancel:
                    self._cancel.discard(job_id)
                    continue
                self._live[job_id] = job
            try:
                self._run(job, None)
            except Exception:  # a bug must not kill the worker thread: log, keep serving
                log.exception("export job %s failed unexpectedly", job_id)
                with contextlib.suppress(Exception):
                    reason = "internal error; the server log has the details"
                    self._finish_failed(self._latest(job), reason)

    def _sweeper(self) -> None:
        interval = sweep_interval(self.settings.export_retention_hours)
        while not self._stopping.wait(interval):
            try:
                self.sweep()
            except ActivityLogError as exc:
                log.warning("sweeping expired exports failed: %s", exc.message)

    def _run(self, job: Job, progress: Callable[[Job], None] | None) -> Job:
        sealed = self._sealed_before(job)
        if sealed is not None:
            if progress is not None:
                progress(sealed)
            return sealed
        now = self._now()
        job = job.advance(now, state=RUNNING, rows_written=0, bytes_written=0, error="")
        self._set_state(job, persist=True)
        part = part_path(self.file_path(job))
        reader: Store | None = None
        try:
            reader = self._open_reader()
            flt = job.request.activity_filter(job.scope)
            job = job.advance(self._now(), rows_total=count_activity(reader, flt))
            self._set_state(job, persist=True)
            chunks = export_bytes(reader, flt, job.request.format, job.request.lang)
            job, facts = self._write(job, chunks, part, progress)
            final = self.file_path(job)
            part.replace(final)
            finished = self._now()
            job = job.advance(
                finished,
                state=DONE,
                finished_at=finished,
                expires_at=retention_deadline(finished, self.settings.export_retention_hours),
            )
            if self.ledger is not None:
                self.ledger.seal(job.job_id, request_info(job), facts)
            self._set_state(job, persist=True, done=True)
            log.info(
                "export job %s done: %s rows, %s bytes",
                job.job_id,
                job.rows_written,
                job.bytes_written,
            )
        except _Interrupted:
            job = self._latest(job)
            job = job.advance(self._now(), state=QUEUED, rows_written=0, bytes_written=0)
            self._set_state(job, persist=True, done=True)
            log.info(
                "export job %s interrupted by shutdown; restarts at the next start", job.job_id
            )
        except _Cancelled:
            job = self._latest(job)
            job = self._finish_cancelled(job, job.rows_written)
        except ActivityLogError as exc:
            job = self._latest(job)
            job = self._finish_failed(job, exc.message)
        except OSError as exc:
            job = self._latest(job)
            job = self._finish_failed(job, f"cannot write the export file: {exc.strerror or exc}")
        finally:
            part.unlink(missing_ok=True)
            if reader is not None:
                reader.close()
        if progress is not None:
            progress(job)
        return job

    def _sealed_before(self, job: Job) -> Job | None:
        """The job marked done when a previous process sealed it and died before saying so.

        Between the seal and the `done` record a kill -9 leaves a job that looks
        unfinished; running it again would seal a second manifest for one export.
        Its file is kept when it is the one the manifest describes.
        """
        if self.ledger is None:
            return None
        manifest = self.ledger.manifest(job.job_id, None)
        if manifest is None:
            return None
        path = self.file_path(job)
        try:
            digest = file_sha256(path)
        except FileNotFoundError:
            digest = ""
        if digest != manifest.get("sha256"):
            return self._finish_failed(job, "sealed by a process that stopped; its file is gone")
        finished = self._now()
        done = job.advance(
            finished,
            state=DONE,
            rows_written=int(manifest.get("rows") or 0),
            bytes_written=path.stat().st_size,
            sha256=digest,
            finished_at=finished,
            expires_at=retention_deadline(finished, self.settings.export_retention_hours),
        )
        self._set_state(done, persist=True, done=True)
        log.info("export job %s was sealed before a restart: marked done", job.job_id)
        return done

    def _write(
        self, job: Job, chunks: Iterator[bytes], part: Path, progress: Callable[[Job], None] | None
    ) -> tuple[Job, ExportFacts]:
        """Stream the export's bytes to `part`, recording progress as they go."""
        counted = chunks if isinstance(chunks, RecordChunks) else None
        last_persist = time.monotonic()
        with contextlib.closing(ExportFile(part, job.request.format)) as file:
            try:
                for chunk in chunks:
                    self._check(job.job_id)
                    file.write(chunk, counted.records if counted is not None else None)
                    rows = file.rows_so_far
                    if job.rows_total:
                        rows = min(rows, job.rows_total)
                    job = job.advance(self._now(), rows_written=rows, bytes_written=file.bytes)
                    due = time.monotonic() - last_persist >= PERSIST_EVERY
                    self._set_state(job, persist=due)
                    if due:
                        last_persist = time.monotonic()
                    if progress is not None:
                        progress(job)
                    self._hold_while_paused(job.job_id)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()  # ends the store's stream now, not at garbage collection
            file.sync()
        self._check(job.job_id)
        facts = file.facts()
        job = job.advance(
            self._now(), rows_written=facts.rows, bytes_written=file.bytes, sha256=facts.sha256
        )
        return job, facts

    def _latest(self, job: Job) -> Job:
        """The job as last set (its progress when a chunk loop broke off)."""
        with self._lock:
            return self._live.get(job.job_id, job)

    def _hold_while_paused(self, job_id: str) -> None:
        """Wait while `ACTIVITYLOG_EXPORT_JOBS_PAUSE_FILE` exists; a cancel or a stop ends it."""
        pause = self.settings.export_jobs_pause_file
        while pause is not None and pause.exists():
            self._check(job_id)
            self._stopping.wait(PAUSE_POLL)

    def _check(self, job_id: str) -> None:
        if self._stopping.is_set():
            raise _Interrupted
        with self._lock:
            if job_id in self._cancel:
                raise _Cancelled

    def _finish_cancelled(self, job: Job, rows: int, *, forget: bool = True) -> Job:
        if forget:
            with self._lock:
                self._cancel.discard(job.job_id)
        now = self._now()
        job = job.advance(now, state=CANCELLED, finished_at=now, error="cancelled on request")
        self._set_state(job, persist=True, done=True)
        if self.ledger is not None:
            info = request_info(job)
            self.ledger.fail(job.job_id, info, rows, "cancelled on request", cancelled=True)
        log.info("export job %s cancelled after %s rows", job.job_id, rows)
        return job

    def _finish_failed(self, job: Job, reason: str) -> Job:
        now = self._now()
        job = job.advance(now, state=FAILED, finished_at=now, error=reason)
        self._set_state(job, persist=True, done=True)
        if self.ledger is not None:
            self.ledger.fail(job.job_id, request_info(job), job.rows_written, reason)
        log.warning("export job %s failed: %s", job.job_id, reason)
        return job

    def _wait_final(self, job_id: str, timeout: float = 10.0) -> Job | None:
        """After a cancel of a running job: its state once the worker has stopped it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                running = job_id in self._live
            if not running:
                break
            time.sleep(0.02)
        return self.table.get(job_id)

    def _set_state(self, job: Job, *, persist: bool, done: bool = False) -> None:
        """The job's latest state: live in memory while it runs, in the store when `persist`."""
        if persist:
            self._save(job)
        with self._lock:
            if done:
                self._live.pop(job.job_id, None)
            else:
                self._live[job.job_id] = job

    def _save(self, job: Job) -> Job:
        self.table.save(job)
        return job


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
