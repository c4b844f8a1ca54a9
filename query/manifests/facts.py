"""What an export holds, derived from its bytes alone: rows, first and last event times, SHA-256."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Final

from common.timefmt import iso_utc
from query.manifests.csv_records import record_ends
from query.manifests.model import ExportFacts
from query.manifests.parquet_footer import parquet_facts
from query.manifests.xlsx_rows import XlsxRows

# The formats whose facts a tap derives from their bytes.
TAP_FORMATS: Final = ("csv", "csv-fr", "jsonl", "parquet", "xlsx")

READ_CHUNK = 1 << 20


class ExportTap:
    """Computes `ExportFacts` from an export's bytes as they stream by, in one pass.

    The same tap runs on a direct download, a job's file and `verify`'s
    re-read, so the manifest and its check agree by construction; the facts
    depend on the bytes only, never on how they were cut into chunks (a
    writer that knows each chunk's record count may pass it to `update`,
    which then skips the scan: it must be the count the scan would find):
    - csv: rows = records after the header; a record ends at a newline
      outside double quotes (a quoted cell may hold newlines). Event time =
      a record's first cell (the `Date (UTC)` column).
    - csv-fr: as csv, with `;` between cells.
    - jsonl: rows = lines; event time = a line's `occurred_at`.
    - xlsx: rows = the worksheets' data rows, read from the zip stream
      (`query.manifests.xlsx_rows`); event time = a row's date cell, in the
      zone its header names.
    - parquet: rows from the footer; event times read from the `occurred_at`
      column of the first and last row groups (kept from the stream's head
      and tail, never the whole file).
    `first_event_at`/`last_event_at` are the event times of the file's first
    and last rows. Exports are ordered by partner, then time: for a partner's
    export (any partner key) these are its earliest and latest events.
    Why not a min/max of every row: finding each record's date costs a
    Python step per row, while these facts cost a few vectorized passes
    per chunk (none for a counted chunk but the last).
    Memory stays bounded: one partial record (csv/jsonl), or the first and
    last `PARQUET_EDGE` bytes (parquet).
    """

    PARQUET_EDGE: Final = 16 << 20

    def __init__(self, fmt: str) -> None:
        if fmt not in TAP_FORMATS:
            raise ValueError(f"no tap for format {fmt!r}")
        self.fmt = fmt
        self.kind = "csv" if fmt == "csv-fr" else fmt  # how its bytes are read
        self._delimiter = ord(";") if fmt == "csv-fr" else ord(",")
        self._xlsx = XlsxRows() if fmt == "xlsx" else None
        self.bytes = 0
        self._hash = hashlib.sha256()
        # csv/jsonl: the bytes after the last record end (a record start: quotes even).
        self._carry = b""
        self._ends = 0  # record ends seen (csv: the header's included)
        self._first: bytes | None = None  # the first row's opening bytes
        self._first_pending = False  # csv: the first row starts at the next chunk's start
        self._last: bytes | None = None  # the last complete row's opening bytes
        self._head: list[bytes] = []  # parquet: the first PARQUET_EDGE bytes
        self._head_size = 0
        self._tail: list[bytes] = []  # parquet: at least the last PARQUET_EDGE bytes
        self._tail_size = 0
        self._done: ExportFacts | None = None
        self._unscanned: bytes | None = None  # csv: a counted chunk whose last record is unknown

    def update(self, chunk: bytes, records: int | None = None) -> None:
        """Account for the next chunk of the file.

        `records`: how many records the chunk holds when its writer knows it
        and the chunk ends one (`common.store.RecordChunks`); a CSV chunk then
        needs no scan for its record ends, only the file's first and last do.
        """
        if not chunk:
            return
        self._hash.update(chunk)
        self.bytes += len(chunk)
        if self.kind == "parquet":
            self._keep_edges(chunk)
        elif self._xlsx is not None:
            self._xlsx.update(chunk)
        elif self.kind == "csv":
            if (
                records
                and self._ends
                and not (self._carry or self._first_pending)
                and chunk.endswith(b"\n")
            ):
                self._ends += records
                self._unscanned = chunk  # its last record is found if it stays the last
                return
            self._settle_last()
            self._csv(chunk)
        else:
            self._jsonl(self._carry + chunk if self._carry else chunk)

    @property
    def rows_so_far(self) -> int:
        """Rows complete so far (csv/jsonl; parquet knows its rows only at the end)."""
        if self._done is not None:
            return self._done.rows
        if self._xlsx is not None:
            return self._xlsx.rows
        return max(0, self._ends - 1) if self.kind == "csv" else self._ends

    def facts(self) -> ExportFacts:
        """The facts of everything seen so far, the stream being complete."""
        if self._done is not None:
            return self._done
        self._settle_last()
        if self.kind == "parquet":
            rows, first, last = parquet_facts(
                b"".join(self._head), b"".join(self._tail), self.bytes
            )
        elif self._xlsx is not None:
            if self._xlsx.broken:
                raise ValueError(f"not a readable xlsx export: {self._xlsx.broken}")
            rows = self._xlsx.rows
            first, last = self._xlsx.times()
        else:
            records = self._ends
            if self._carry.strip(b"\r\n"):  # a last record without its newline
                records += 1
                if self.kind == "jsonl" or records > 1:
                    self._last = self._carry[: _PREFIX if self.kind == "csv" else _PREFIX_JSONL]
                    if self._first is None:
                        self._first = self._last
            if self.kind == "csv":
                rows = max(0, records - 1)  # the header is not a row
                first, last = _csv_time(self._first), _csv_time(self._last)
            else:
                rows = records
                first, last = _jsonl_time(self._first), _jsonl_time(self._last)
        self._done = ExportFacts(rows, first, last, self._hash.hexdigest())
        return self._done

    def _settle_last(self) -> None:
        """Find the last record of the counted chunk that ended the stream so far."""
        if self._unscanned is not None:
            chunk, self._unscanned = self._unscanned, None
            ends = record_ends(chunk, 0, self._delimiter)
            before = int(ends[-2]) + 1 if len(ends) > 1 else 0
            self._last = chunk[before : before + _PREFIX]

    def _csv(self, chunk: bytes) -> None:
        if not self._carry:
            self._csv_records(chunk)
            return
        # The carry is a record's opening: finish it with the chunk's first line when that
        # line ends it, so the chunk itself is scanned in place instead of copied.
        cut = chunk.find(b"\n") + 1
        if cut:
            head = self._carry + chunk[:cut]
            if len(record_ends(head, 0, self._delimiter)) == 1:
                self._csv_records(head)
                self._csv_records(chunk, cut)
                return
        self._csv_records(self._carry + chunk)

    def _csv_records(self, data: bytes, start: int = 0) -> None:
        """Account for `data[start:]`, which starts a record."""
        ends = record_ends(data, start, self._delimiter)
        if not len(ends):
            self._carry = data[start:]
            return
        if self._first_pending:  # the first row opened the carry and is now complete
            self._first, self._first_pending = data[start : start + _PREFIX], False
        if self._ends == 0:  # the header ends here; the first row follows it
            if len(ends) > 1:
                first = int(ends[0]) + 1
                self._first = data[first : first + _PREFIX]
            else:
                self._first_pending = True
        self._ends += len(ends)
        if self._ends > 1:  # the last complete record is a row, not the header
            before = int(ends[-2]) + 1 if len(ends) > 1 else start
            self._last = data[before : before + _PREFIX]
        self._carry = data[int(ends[-1]) + 1 :]

    def _jsonl(self, data: bytes) -> None:
        end = data.rfind(b"\n")
        if end < 0:
            self._carry = data
            return
        if self._ends == 0:
            self._first = data[:_PREFIX_JSONL]
        self._ends += data.count(b"\n")
        before = data.rfind(b"\n", 0, end)
        self._last = data[before + 1 : before + 1 + _PREFIX_JSONL]
        self._carry = data[end + 1 :]

    def _keep_edges(self, chunk: bytes) -> None:
        if self._head_size < self.PARQUET_EDGE:
            piece = chunk[: self.PARQUET_EDGE - self._head_size]
            self._head.append(piece)
            self._head_size += len(piece)
        self._tail.append(chunk)
        self._tail_size += len(chunk)
        while len(self._tail) > 1 and self._tail_size - len(self._tail[0]) >= self.PARQUET_EDGE:
            self._tail_size -= len(self._tail.pop(0))


# What the CSV tap keeps of a row: enough for its date cell, quoted or not.
_PREFIX = 40
# What the JSONL tap keeps of a line: enough to reach `occurred_at` after the event id.
_PREFIX_JSONL = 4096

# A JSONL record's own `occurred_at` (our encoder writes it second, before any nested
# `details`; inside a JSON string the quotes would be escaped, so this cannot match there).
_OCCURRED_AT = re.compile(rb'"occurred_at":"([^"\\]{1,64})"')


def file_facts(path: Path, fmt: str) -> ExportFacts:
    """The facts of a file on disk (what `verify` compares with the manifest)."""
    tap = ExportTap(fmt)
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            tap.update(chunk)
    return tap.facts()


_UNQUOTED_END = re.compile(r"[,;\r\n]")


def _csv_time(prefix: bytes | None) -> str | None:
    if prefix is None:
        return None
    text = prefix.decode("utf-8", errors="replace")
    # The prefix may run past a short record: an unquoted cell also ends at a newline.
    cell = text[1:].split('"', 1)[0] if text.startswith('"') else _UNQUOTED_END.split(text, 1)[0]
    return _normalize_time(cell.strip())


def _jsonl_time(line: bytes | None) -> str | None:
    found = _OCCURRED_AT.search(line) if line is not None else None
    return None if found is None else _normalize_time(found[1].decode("utf-8", errors="replace"))


def _normalize_time(text: str) -> str | None:
    """An event time in the manifest's spelling, or the text as found when it is no time."""
    try:
        return iso_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text or None
