"""A Parquet export's rows and first and last event times, read from its head and tail bytes.

The tap keeps only the first and last bytes of a streamed Parquet file
(`query.manifests.facts.ExportTap.PARQUET_EDGE`); the footer and the
`occurred_at` column chunks of the first and last row groups lie within
them, so the facts never need the whole file in memory.
"""

from __future__ import annotations

import io
import struct
from datetime import datetime
from typing import Any

from common.timefmt import iso_utc


def parquet_facts(head: bytes, tail: bytes, size: int) -> tuple[int, str | None, str | None]:
    """Rows (footer) and the first and last rows' event times of a Parquet file.

    `head`/`tail` are the file's first and last bytes; the footer and the
    `occurred_at` column chunks of the first and last row groups must lie
    within them (a row group holds 20,000 rows, far below `PARQUET_EDGE`).
    A file that does not parse has no rows and no event times.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(tail) < 12 or tail[-4:] != b"PAR1":
        return 0, None, None
    (footer,) = struct.unpack("<I", tail[-8:-4])
    if footer + 8 > min(len(tail), size):
        return 0, None, None
    try:
        edges = pq.ParquetFile(pa.PythonFile(_EdgesFile(head, tail, size), mode="r"))
        rows = int(edges.metadata.num_rows)
        groups = edges.metadata.num_row_groups
        if rows == 0 or groups == 0 or "occurred_at" not in edges.schema_arrow.names:
            return rows, None, None
        first = edges.read_row_group(0, columns=["occurred_at"]).column(0)
        last = edges.read_row_group(groups - 1, columns=["occurred_at"]).column(0)
        return rows, _arrow_time(first[0].as_py()), _arrow_time(last[-1].as_py())
    except (pa.ArrowException, OSError, ValueError, IndexError):
        return 0, None, None


def _arrow_time(value: Any) -> str | None:
    return iso_utc(value) if isinstance(value, datetime) else None


class _EdgesFile(io.RawIOBase):
    """A read-only file of `size` bytes of which only the head and the tail are known.

    Reading anywhere else raises OSError: the Parquet reader then gave up,
    and the file's event times are unknown.
    """

    def __init__(self, head: bytes, tail: bytes, size: int) -> None:
        self.head, self.tail, self.size = head, tail, size
        self.tail_start = size - len(tail)
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, n: int = -1) -> bytes:
        start = self.position
        stop = self.size if n is None or n < 0 else min(self.size, start + n)
        if stop <= len(self.head):
            data = self.head[start:stop]
        elif start >= self.tail_start:
            data = self.tail[start - self.tail_start : stop - self.tail_start]
        else:
            raise OSError(f"bytes {start}..{stop} of the Parquet file were not kept")
        self.position = start + len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
