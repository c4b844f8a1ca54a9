"""A progress bar on stderr for the producing commands, only when stderr is a terminal.

Piped or redirected output stays clean for scripts and logs: there the bar is
a no-op and only the final summary line is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def progress_bar(
    description: str, total: int | None = None, stream: TextIO | None = None
) -> Iterator[Callable[[int], None]]:
    """Yield `update(done)`: draws a rich bar on a terminal, does nothing otherwise."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class _RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f}/s" if speed else "")

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[ProgressColumn] = [
        SpinnerColumn() if total is None else BarColumn(),
        TextColumn("[progress.description]{task.description}"),
        MofNCompleteColumn() if total is not None else TextColumn("{task.completed:,}"),
        _RateColumn(),
        TimeElapsedColumn(),
    ]
    if total is not None:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(file=out), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int) -> None:
            bar.update(task, completed=done)

        yield update


def _ignore(_done: int) -> None:
    """The no-op update used when stderr is not a terminal."""
