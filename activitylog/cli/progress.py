"""The CLI's progress bars, on stderr and only when stderr is a terminal.

Piped or redirected output stays clean for scripts and logs: there a bar is a
no-op and only the command's summary line is printed. Three commands show
progress, each counting what it knows: `produce`/`simulate` count events,
`export` counts rows and bytes as they arrive, `export --job` follows the
job's status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from query.client import Download

# What ends a record in each text format (CSV rows end with CRLF; a CRLF
# inside a quoted cell is rare and only nudges the estimate).
_RECORD_END = {"csv": b"\r\n", "csv-fr": b"\r\n", "jsonl": b"\n"}


def _bar(*columns: ProgressColumn | str) -> Progress:
    return Progress(*columns, console=Console(stderr=True), transient=True)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "")


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Yield `update(done)`: events counted and their rate (time left when `total` is known)."""
    if not sys.stderr.isatty():
        yield _ignore
        return
    columns: list[ProgressColumn] = [
        SpinnerColumn() if total is None else BarColumn(),
        TextColumn("[progress.description]{task.description}"),
        MofNCompleteColumn() if total is not None else TextColumn("{task.completed:,}"),
        _RateColumn(),
        TimeElapsedColumn(),
    ]
    if total is not None:
        columns.append(TimeRemainingColumn())
    with _bar(*columns) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int) -> None:
            bar.update(task, completed=done)

        yield update


def with_download_progress(download: Download, fmt: str) -> Iterator[bytes]:
    """`download`'s chunks, counting rows (record ends; exact for JSONL) and bytes on a bar."""
    separator = _RECORD_END.get(fmt)
    total = download.rows
    with _bar(
        TextColumn("[bold]export[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows, {task.fields[size]}"),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("export", total=total, size=human_size(0))
        seen = -1 if fmt.startswith("csv") else 0  # the CSV header line is not a row
        received = 0
        for chunk in download.chunks:
            received += len(chunk)
            if separator is not None:
                seen += chunk.count(separator)
                bar.update(task, completed=max(0, min(seen, total or seen)))
            bar.update(task, size=human_size(received))
            yield chunk
        if total is not None:
            bar.update(task, completed=total)


@contextmanager
def job_progress(enabled: bool) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Yield `show(status)`: a job's state and rows written against its estimate."""
    if not enabled:
        yield lambda status: None
        return
    with _bar(
        TextColumn("[bold]export job[/] {task.fields[state]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("job", total=None, state="queued")

        def show(status: dict[str, Any]) -> None:
            total = status.get("rows_total_estimate") or None
            bar.update(task, total=total, completed=status["rows_written"], state=status["state"])

        yield show


def human_size(n: int) -> str:
    """`1.5 MB`: a byte count for people."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _ignore(_done: int) -> None:
    """The no-op update used when stderr is not a terminal."""
