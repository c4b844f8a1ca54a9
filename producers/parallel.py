"""Sharded bulk publishing: one JSONL file, several processes, each with its own producer.

kafka-python does every record's work in Python under one interpreter lock:
validation, the per-record future, the partitioner, the accumulator and the
sender thread. A single process therefore tops out near one core, however
the producer is tuned. `publish_file` runs `workers` processes over the same
file; each reads every line (the page cache makes the re-reads cheap) but
validates and sends only the lines whose Kafka key it owns. Ownership is a
function of the key alone, so one key's events (a customer's, or a partner's
own actions) stay in one producer in file order: the per-key order a single
producer would keep.

The parent merges what the workers tell it: rejected lines (by their line
number in the file), counts, and the delivery reports, so the caller gets
one `BulkResult` and one `DeliveryReport` exactly as from `publish_lines`.
Workers are forked (Linux): the CLI has started no thread when it forks.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final

import orjson

from common.errors import ActivityLogError, BrokerUnavailable, DeliveryFailed, InvalidEvent
from producers.bulk import PROGRESS_EVERY, BulkResult, prepare_decoded
from producers.jsonl import iter_lines, open_jsonl
from producers.publisher import (
    MAX_ERRORS_KEPT,
    MAX_FAILED_RECORDS_KEPT,
    ActivityPublisher,
    DeliveryReport,
)
from schemas.events import kafka_key_field

# Below this size a file is published by one process: forking and connecting
# more producers costs more than it saves.
PARALLEL_MIN_BYTES: Final = 16 * 1024 * 1024
MAX_AUTO_WORKERS: Final = 4
_POLL_SECONDS: Final = 0.1


@dataclass(frozen=True)
class ParallelOutcome:
    """What a sharded run read and what Kafka acknowledged, merged over the workers."""

    result: BulkResult
    report: DeliveryReport
    workers: int


def auto_workers(source: str, *, dry_run: bool = False) -> int:
    """How many processes `produce` uses when not told: one per core for a large file."""
    if source == "-" or dry_run:
        return 1
    try:
        size = Path(source).stat().st_size
    except OSError:
        return 1  # open_jsonl names the problem
    if size < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def owner_of(event: Any, workers: int) -> int:
    """The worker that publishes a decoded line: a function of its Kafka key only.

    The key is the contract's (`kafka_key_field`): the customer id, or the
    partner id of a partner-level action. Lines without one (rejected ones)
    all go to worker 0, which keeps their relative order too.
    """
    if isinstance(event, dict):
        key = event.get(kafka_key_field(event))
        if isinstance(key, str) and key:
            return zlib.crc32(key.encode()) % workers
    return 0


def publish_file(
    source: str,
    bootstrap: str,
    workers: int,
    *,
    on_rejected: Callable[[int, InvalidEvent], None] | None = None,
    progress: Callable[[int], None] | None = None,
    validate: bool = True,
    publisher_options: dict[str, Any] | None = None,
) -> ParallelOutcome:
    """Publish a JSONL file (plain or gzip) from `workers` processes; merged outcome.

    Raises the first worker's typed error (e.g. `BrokerUnavailable`) after
    every worker has stopped, or `DeliveryFailed` if a worker died without a
    report (its records may be partly sent).
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    open_jsonl(source).close()  # a missing or unreadable file fails here, before any fork
    ctx = multiprocessing.get_context("fork")
    lines_read = ctx.Array("q", workers, lock=False)
    rejections: multiprocessing.Queue[tuple[int, str, str]] = ctx.Queue()
    results: multiprocessing.Queue[tuple[Any, ...]] = ctx.Queue()
    procs: list[BaseProcess] = [
        ctx.Process(
            target=_worker,
            args=(
                index,
                workers,
                source,
                bootstrap,
                validate,
                publisher_options or {},
                lines_read,
                rejections,
                results,
            ),
            name=f"activitylog-publish-{index}",
            daemon=True,
        )
        for index in range(workers)
    ]
    for proc in procs:
        proc.start()
    finished: dict[int, tuple[Any, ...]] = {}
    try:
        while len(finished) < workers:
            _drain_rejections(rejections, on_rejected)
            try:
                message = results.get(timeout=_POLL_SECONDS)
                finished[message[1]] = message
            except queue.Empty:
                for index, proc in enumerate(procs):
                    if index not in finished and not proc.is_alive():
                        _drain_rejections(rejections, on_rejected)
                        try:  # its report may have been queued just before it exited
                            message = results.get(timeout=1.0)
                            finished[message[1]] = message
                        except queue.Empty:
                            finished[index] = ("died", index, proc.exitcode)
            if progress is not None:
                progress(min(lines_read))
        _drain_rejections(rejections, on_rejected)
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    if progress is not None:
        progress(min(lines_read))
    return _merge([finished[i] for i in range(workers)], workers)


def _drain_rejections(
    rejections: multiprocessing.Queue[tuple[int, str, str]],
    on_rejected: Callable[[int, InvalidEvent], None] | None,
) -> None:
    while True:
        try:
            number, field, message = rejections.get_nowait()
        except queue.Empty:
            return
        if on_rejected is not None:
            on_rejected(number, InvalidEvent(field, message))


def _merge(messages: list[tuple[Any, ...]], workers: int) -> ParallelOutcome:
    """One outcome from the workers' messages, or the first worker's error."""
    for message in messages:
        if message[0] == "error":
            _, index, kind, text = message
            error_class = BrokerUnavailable if kind == "BrokerUnavailable" else DeliveryFailed
            raise error_class(f"publishing worker {index}: {text}")
        if message[0] == "died":
            _, index, exitcode = message
            raise DeliveryFailed(
                f"publishing worker {index} stopped (exit code {exitcode}) before reporting; "
                "some of its events may have been sent"
            )
    accepted = rejected = sent = delivered = failed = pending = 0
    errors: list[str] = []
    failed_records: list[Any] = []
    for _, _, worker_accepted, worker_rejected, report in messages:
        accepted += worker_accepted
        rejected += worker_rejected
        sent += report.sent
        delivered += report.delivered
        failed += report.failed
        pending += report.pending
        errors.extend(e for e in report.errors if e not in errors)
        failed_records.extend(report.failed_records)
    return ParallelOutcome(
        result=BulkResult(accepted=accepted, rejected=rejected),
        report=DeliveryReport(
            sent=sent,
            delivered=delivered,
            failed=failed,
            pending=pending,
            errors=tuple(errors[:MAX_ERRORS_KEPT]),
            failed_records=tuple(failed_records[:MAX_FAILED_RECORDS_KEPT]),
        ),
        workers=workers,
    )


def _worker(
    index: int,
    workers: int,
    source: str,
    bootstrap: str,
    validate: bool,
    publisher_options: dict[str, Any],
    lines_read: Any,
    rejections: multiprocessing.Queue[tuple[int, str, str]],
    results: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    """One shard: read every line, publish the ones this worker owns, report."""
    # Ctrl-C reaches the whole process group: the parent decides, workers finish cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.collect()
    gc.freeze()
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    accepted = rejected = read = 0
    try:
        stream = open_jsonl(source)
        try:
            with ActivityPublisher(bootstrap, **publisher_options) as publisher:
                send = publisher.send_counted
                for number, line in iter_lines(stream):
                    read += 1
                    if read % PROGRESS_EVERY == 0:
                        lines_read[index] = read
                    try:
                        event = loads(line)
                    except decode_error as exc:
                        if index == 0:
                            rejected += 1
                            rejections.put((number, "", f"not valid JSON: {exc}"))
                        continue
                    if owner_of(event, workers) != index:
                        continue
                    try:
                        topic, key, value = prepare_decoded(line, event, validate=validate)
                        send(topic, key, value)
                        accepted += 1
                    except InvalidEvent as exc:
                        rejected += 1
                        rejections.put((number, exc.field, exc.rule))
                lines_read[index] = read
                report = publisher.close()
        finally:
            stream.close()
        results.put(("done", index, accepted, rejected, report))
    except ActivityLogError as exc:
        results.put(("error", index, type(exc).__name__, exc.message))
    except Exception as exc:  # reported to the parent, which names the worker
        results.put(("error", index, type(exc).__name__, f"{type(exc).__name__}: {exc}"))
