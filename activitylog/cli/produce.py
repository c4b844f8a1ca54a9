"""Producing CLI commands: `produce` (JSONL to Kafka) and `simulate` (synthetic traffic).

Both publish through `ActivityPublisher`, report what Kafka did not
acknowledge, and draw a progress bar only when stderr is a terminal.
"""

from __future__ import annotations

import gc
import gzip
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any, cast

import typer

from activitylog.cli.progress import progress_bar
from common.errors import ConfigError, DeliveryFailed, InvalidEvent
from common.kafka import check_broker
from common.settings import Settings
from producers.bulk import BulkResult, publish_lines
from producers.jsonl import iter_lines, open_jsonl
from producers.parallel import auto_workers, publish_file
from producers.publisher import ActivityPublisher, DeliveryReport
from producers.simulate import SimulationSpec, write_jsonl
from producers.simulate import simulate as generate


def _connect(settings: Settings) -> ActivityPublisher:
    """A publisher on the configured broker, or one clear line if nothing answers."""
    check_broker(settings.kafka_bootstrap)
    # A long-lived CLI run allocates millions of short-lived objects; the
    # start-up objects never die, so the collector need not scan them again.
    gc.collect()
    gc.freeze()
    return ActivityPublisher(settings.kafka_bootstrap, close_timeout=settings.produce_close_timeout)


def _raise_if_undelivered(report: DeliveryReport) -> None:
    if not report.ok:
        raise DeliveryFailed(
            f"{report.failed + report.pending} events were not acknowledged by Kafka; "
            f"first error: {(report.errors or ('timeout',))[0]}"
        )


def produce(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSONL file (plain or gzip), or - for stdin")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; send nothing")] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Publishing processes, sharded by Kafka key (0 = one per core for a large file)",
        ),
    ] = 0,
) -> None:
    """Publish events from a JSONL file: valid lines are sent, bad lines reported by number."""
    settings: Settings = ctx.obj

    def rejected_line(number: int, exc: InvalidEvent) -> None:
        typer.echo(f"line {number}: {exc.message}", err=True)

    if workers == 0:
        workers = auto_workers(file, dry_run=dry_run)
    if workers > 1 and (file == "-" or dry_run):
        raise ConfigError("--workers", "several workers need a file (not - or --dry-run)")
    if workers > 1:
        _produce_sharded(settings, file, workers, rejected_line)
        return
    stream = open_jsonl(file)
    publisher = None if dry_run else _connect(settings)
    report: DeliveryReport | None = None
    try:
        with progress_bar("publishing" if publisher else "validating") as update:
            result = publish_lines(
                publisher, iter_lines(stream), on_rejected=rejected_line, progress=update
            )
    finally:
        if publisher is not None:
            report = publisher.close()
        stream.close()
    if report is None:
        typer.echo(f"{result.accepted} valid, {result.rejected} rejected (dry run: nothing sent)")
    else:
        _finish(report, result)
    if result.rejected:
        raise typer.Exit(1)


def _produce_sharded(
    settings: Settings, file: str, workers: int, rejected_line: Callable[[int, InvalidEvent], None]
) -> None:
    """`produce` with several publishing processes (large files: see producers/parallel.py)."""
    check_broker(settings.kafka_bootstrap)  # one clear line now, before any worker is forked
    with progress_bar(f"publishing ({workers} processes)") as update:
        outcome = publish_file(
            file,
            settings.kafka_bootstrap,
            workers,
            on_rejected=rejected_line,
            progress=update,
            publisher_options={"close_timeout": settings.produce_close_timeout},
        )
    _finish(outcome.report, outcome.result)
    if outcome.result.rejected:
        raise typer.Exit(1)


def _finish(report: DeliveryReport, result: BulkResult) -> None:
    """`produce`'s summary line; `DeliveryFailed` if Kafka left any record unacknowledged."""
    typer.echo(
        f"{report.delivered} sent, {result.rejected} rejected"
        + (f", {report.failed} failed" if report.failed else "")
        + (f", {report.pending} unconfirmed" if report.pending else "")
    )
    _raise_if_undelivered(report)


def _moment(value: str, option: str, end_of_day: bool = False) -> datetime:
    """A date (YYYY-MM-DD, UTC) or an RFC 3339 timestamp, as an aware datetime."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else moment
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(option, f"{value!r} is not a date (YYYY-MM-DD) or timestamp") from None
    if parsed.utcoffset() is None:
        raise ConfigError(option, f"{value!r} needs an offset (Z or +hh:mm)")
    return parsed


def _paced(pairs: Iterator[Any], rate: float) -> Iterator[Any]:
    """Yield at most `rate` items a second (on average), sleeping only when ahead."""
    started = time.monotonic()
    for index, item in enumerate(pairs):
        ahead = started + index / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        yield item


def _open_output(path: Path) -> IO[bytes]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".gz":
            return cast(IO[bytes], gzip.open(path, "wb", compresslevel=6))
        return path.open("wb")
    except OSError as exc:
        raise ConfigError("--output", f"cannot write {path}: {exc.strerror}") from exc


def simulate(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Same seed and options, same events")] = 7,
    partners: Annotated[int, typer.Option(min=1, help="Number of partners")] = 3,
    customers: Annotated[int, typer.Option(min=1, help="Customers per partner")] = 40,
    users: Annotated[int, typer.Option(min=1, help="Partner users per partner")] = 4,
    events: Annotated[
        int | None, typer.Option(min=0, help="Exact number of events (default: per day x days)")
    ] = None,
    events_per_day: Annotated[float, typer.Option(min=0, help="When --events is not given")] = (
        1000.0
    ),
    days: Annotated[float, typer.Option(min=0, help="Window length when --start is absent")] = 30,
    start: Annotated[str | None, typer.Option(help="Window start: YYYY-MM-DD or RFC 3339")] = None,
    end: Annotated[
        str | None, typer.Option(help="Window end (default: now, to the minute)")
    ] = None,
    order_share: Annotated[float, typer.Option(min=0, max=1, help="Share of orders")] = 0.3,
    failure_rate: Annotated[float, typer.Option(min=0, max=1, help="Share that fails")] = 0.05,
    rate: Annotated[
        float, typer.Option(min=0, help="Events per second to publish at; 0 = as fast as possible")
    ] = 0,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write JSONL here instead (gzip if it ends in .gz)"),
    ] = None,
) -> None:
    """Realistic, deterministic partner actions and orders, to Kafka or to a JSONL file."""
    settings: Settings = ctx.obj
    end_at = (
        _moment(end, "--end", end_of_day=True)
        if end
        else datetime.now(UTC).replace(second=0, microsecond=0)
    )
    start_at = _moment(start, "--start") if start else end_at - timedelta(days=days)
    try:
        spec = SimulationSpec(
            seed=seed,
            partners=partners,
            customers_per_partner=customers,
            users_per_partner=users,
            start=start_at,
            end=end_at,
            events=events,
            events_per_day=events_per_day,
            order_share=order_share,
            failure_rate=failure_rate,
        )
    except ValueError as exc:
        raise ConfigError("simulate", str(exc)) from exc
    total = spec.total_events
    window = f"{start_at.isoformat(timespec='seconds')} .. {end_at.isoformat(timespec='seconds')}"
    with progress_bar("simulating", total=total) as update:
        pairs = _counted(generate(spec), update)
        if rate > 0:
            pairs = _paced(pairs, rate)
        if output is not None:
            out = _open_output(output)
            with out:
                written = write_jsonl(pairs, out)
            typer.echo(f"{written} events ({window}) written to {output}")
            return
        publisher = _connect(settings)
        try:
            publisher.publish_many(pairs)
        finally:
            report = publisher.close()
    typer.echo(f"{report.delivered} events ({window}) sent to Kafka at {settings.kafka_bootstrap}")
    _raise_if_undelivered(report)


def _counted(pairs: Iterator[Any], update: Any) -> Iterator[Any]:
    """Pass items through, telling `update` how many went by every 1024."""
    count = 0
    for count, item in enumerate(pairs, start=1):  # count is read after the loop
        yield item
        if count % 1024 == 0:
            update(count)
    update(count)
