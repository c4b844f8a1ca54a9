"""One job's export on disk: a temp file fed through an `ExportTap`, synced before it is renamed.

The tap sees exactly the bytes written, so a job's manifest is computed the
same way as a direct download's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

from query.exports.parquet import ROW_GROUP_ROWS
from query.manifests.facts import ExportTap
from query.manifests.model import ExportFacts

PART_SUFFIX: Final = ".part"


def part_path(final: Path) -> Path:
    """Where the file is written until it is complete."""
    return final.with_name(final.name + PART_SUFFIX)


def remove_stale_parts(directory: Path) -> None:
    """Temp files of a process that died mid-job: their jobs restart from the start."""
    for path in directory.glob(f"*{PART_SUFFIX}"):
        path.unlink(missing_ok=True)


class ExportFile:
    """The temp file of one export being written, with the facts of what it holds."""

    def __init__(self, part: Path, fmt: str) -> None:
        part.parent.mkdir(parents=True, exist_ok=True)
        self._out = part.open("wb")
        self.tap = ExportTap(fmt)
        self.bytes = 0
        self.chunks = 0

    def write(self, chunk: bytes, records: int | None = None) -> None:
        """Append a chunk (`records`: its record count when the writer knows it)."""
        self._out.write(chunk)
        self.tap.update(chunk, records)
        self.bytes += len(chunk)
        self.chunks += 1

    @property
    def rows_so_far(self) -> int:
        """Rows written so far, for progress only (the exact count comes from the facts).

        The tap's complete records for csv and jsonl; row groups times their size
        for Parquet, whose row count is known only from the footer at the end.
        """
        if self.tap.fmt == "parquet":
            return self.chunks * ROW_GROUP_ROWS
        return self.tap.rows_so_far

    def sync(self) -> None:
        """Flush the bytes to the disk and close the file."""
        self._out.flush()
        with contextlib.suppress(OSError):
            os.fsync(self._out.fileno())
        self._out.close()

    def facts(self) -> ExportFacts:
        return self.tap.facts()

    def close(self) -> None:
        self._out.close()
