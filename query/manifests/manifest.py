"""Export manifests (docs/contracts.md): what an export holds, provable without the store.

Pure, no I/O besides reading the file being verified. A manifest records
what was asked (`ExportRequestInfo`), what was written (`ExportFacts`,
computed by `ExportTap` from exactly the bytes that left the encoder),
when and by whom, and the SHA-256 of the same partner's previous manifest,
so an auditor holding the files can check each one and the chain between
them. `verify` re-derives every fact from the file itself.

Canonical bytes: a manifest is serialized as UTF-8 JSON with its keys sorted,
compact separators (`,` and `:`), non-ASCII characters as themselves, no
trailing newline: `json.dumps(m, sort_keys=True, separators=(",", ":"),
ensure_ascii=False).encode("utf-8")`. The `.manifest.json` file holds
exactly those bytes, so `sha256sum M1.manifest.json` is what the next
manifest's `previous` says; the signature is the HMAC-SHA256 of the
canonical bytes of the manifest without its `signature` field.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

from common.settings import ALL_PARTNERS
from query.exports.csv import header_row
from query.exports.parquet import PARQUET_SELECT
from query.reads.activity import RECORD_COLUMNS

# The manifest's fields in the order a person reads them (the file is key-sorted).
MANIFEST_FIELDS: Final = (
    "export_id",
    "partner_id",
    "created_at",
    "created_by",
    "from",
    "to",
    "tz",
    "filters",
    "format",
    "lang",
    "columns",
    "rows",
    "first_event_at",
    "last_event_at",
    "sha256",
    "previous",
)
SIGNED_FIELDS: Final = ("key_id", "signature")
# What `verify` names when something does not match (docs/contracts.md), plus the event times.
MISMATCHES: Final = (
    "sha256",
    "rows",
    "first_event_at",
    "last_event_at",
    "signature",
    "chain",
)
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportRequestInfo:
    """What was asked: who, which range (UTC bounds, `to` exclusive) and zone, filters, format.

    `filters` holds only the filters given (API parameter names, e.g.
    `customer_id`, `action`, `q`); `columns` is the file's own column list
    (the CSV header as written, the Parquet schema, the JSONL keys).
    """

    partner_id: str
    created_by: str
    from_: str
    to: str
    tz: str
    filters: dict[str, str]
    format: str
    lang: str
    columns: list[str]


@dataclass(frozen=True)
class ExportFacts:
    """What was written, derived from exactly the file's bytes (`ExportTap`)."""

    rows: int
    first_event_at: str | None
    last_event_at: str | None
    sha256: str


class ExportObserver(Protocol):
    """Told about every export's end (the audit trail implements it); called by the ledger."""

    def export_finished(self, manifest: Mapping[str, Any]) -> None: ...

    def export_failed(
        self,
        export_id: str,
        info: ExportRequestInfo,
        rows_written: int,
        reason: str,
        *,
        cancelled: bool,
    ) -> None: ...


def new_export_id() -> str:
    """A fresh export id: `exp_` + 26 lowercase base32 characters (128 random bits).

    Unguessable, so an id seen in a log reveals nothing, and URL-safe.
    """
    import base64

    return "exp_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


_EXPORT_ID = re.compile(r"exp_[a-z2-7]{26}")


def is_export_id(text: str) -> bool:
    """Whether `text` has the shape of an export id (checked before any lookup)."""
    return _EXPORT_ID.fullmatch(text) is not None


# -- canonical form, chain and signature ------------------------------------------------------


def canonical_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The manifest's canonical serialization (see the module docstring)."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical bytes: what the next manifest's `previous` holds."""
    return hashlib.sha256(canonical_bytes(manifest)).hexdigest()


def key_fingerprint(secret: str | bytes, *, prefix: str = "") -> str:
    """A short public name for a secret (12 hex characters of its SHA-256).

    Names a signing key or an API key without exposing it: the digest is
    one-way, and a key guessable from it would be guessable from any
    signature too, so keys must be random either way.
    """
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    return prefix + hashlib.sha256(data).hexdigest()[:12]


def sign(manifest: Mapping[str, Any], key: bytes) -> str:
    """Hex HMAC-SHA256 of the canonical bytes of `manifest` without its `signature`."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return hmac.new(key, canonical_bytes(unsigned), hashlib.sha256).hexdigest()


def build_manifest(
    export_id: str,
    info: ExportRequestInfo,
    facts: ExportFacts,
    *,
    created_at: str,
    previous: str | None,
    signing_key: bytes | None = None,
    key_id: str | None = None,
) -> dict[str, Any]:
    """The manifest of docs/contracts.md, Verifiable exports, signed when `signing_key` is given."""
    manifest: dict[str, Any] = {
        "export_id": export_id,
        "partner_id": info.partner_id,
        "created_at": created_at,
        "created_by": info.created_by,
        "from": info.from_,
        "to": info.to,
        "tz": info.tz,
        "filters": dict(sorted(info.filters.items())),
        "format": info.format,
        "lang": info.lang,
        "columns": list(info.columns),
        "rows": facts.rows,
        "first_event_at": facts.first_event_at,
        "last_event_at": facts.last_event_at,
        "sha256": facts.sha256,
        "previous": previous,
    }
    if signing_key is not None:
        manifest["key_id"] = key_id or key_fingerprint(signing_key, prefix="k-")
        manifest["signature"] = sign(manifest, signing_key)
    return manifest


def iso_ms(value: datetime) -> str:
    """`2026-11-27T10:00:00.123Z`: the one timestamp spelling of manifests."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- facts from the bytes ---------------------------------------------------------------------


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
    - jsonl: rows = lines; event time = a line's `occurred_at`.
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
        if fmt not in ("csv", "jsonl", "parquet"):
            raise ValueError(f"no tap for format {fmt!r}")
        self.fmt = fmt
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
        and the chunk ends one (`query.reads.activity.RecordChunks`); a CSV chunk then
        needs no scan for its record ends, only the file's first and last do.
        """
        if not chunk:
            return
        self._hash.update(chunk)
        self.bytes += len(chunk)
        if self.fmt == "parquet":
            self._keep_edges(chunk)
        elif self.fmt == "csv":
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
        return max(0, self._ends - 1) if self.fmt == "csv" else self._ends

    def facts(self) -> ExportFacts:
        """The facts of everything seen so far, the stream being complete."""
        if self._done is not None:
            return self._done
        self._settle_last()
        if self.fmt == "parquet":
            rows, first, last = _parquet_facts(
                b"".join(self._head), b"".join(self._tail), self.bytes
            )
        else:
            records = self._ends
            if self._carry.strip(b"\r\n"):  # a last record without its newline
                records += 1
                if self.fmt == "jsonl" or records > 1:
                    self._last = self._carry[: _PREFIX if self.fmt == "csv" else _PREFIX_JSONL]
                    if self._first is None:
                        self._first = self._last
            if self.fmt == "csv":
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
            ends = _record_ends(chunk)
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
            if len(_record_ends(head)) == 1:
                self._csv_records(head)
                self._csv_records(chunk, cut)
                return
        self._csv_records(self._carry + chunk)

    def _csv_records(self, data: bytes, start: int = 0) -> None:
        """Account for `data[start:]`, which starts a record."""
        ends = _record_ends(data, start)
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
_NEWLINE, _QUOTE, _CR, _COMMA = 10, 34, 13, 44


def _record_ends(data: bytes, start: int = 0) -> Any:
    """The offsets of the newlines that end a record in `data[start:]`, which starts a record.

    A newline ends a record when it is outside double quotes. Why numpy: a
    Python step per byte or per row would cost more than the export itself;
    this is a few vectorized passes per chunk. A newline right after `"\r`
    whose quote stands alone (no quote, comma or newline before it) follows a
    closing quote, so it ends a record: ClickHouse quotes every cell, so that
    proves nearly every newline. Only the others are decided by the parity of
    the quotes since the record's start, one by one.
    """
    view = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(view[start:] == _NEWLINE) + start
    if not len(newlines):
        return newlines
    before = view[np.maximum(newlines - 3, 0)]
    proven = (
        (newlines >= start + 3)
        & (view[np.maximum(newlines - 1, 0)] == _CR)
        & (view[np.maximum(newlines - 2, 0)] == _QUOTE)
        & (before != _QUOTE)
        & (before != _COMMA)
        & (before != _NEWLINE)
    )
    if proven.all():
        return newlines
    sure, doubtful = newlines[proven], newlines[~proven]
    previous_sure = np.searchsorted(sure, doubtful) - 1
    decided: list[int] = []
    last = start - 1
    for at, k in zip(doubtful.tolist(), previous_sure.tolist(), strict=True):
        opening = max(int(sure[k]) if k >= 0 else -1, last) + 1
        if not data.count(b'"', opening, at) & 1:
            decided.append(at)
            last = at
    return np.sort(np.concatenate((sure, np.array(decided, dtype=sure.dtype))))


# A JSONL record's own `occurred_at` (our encoder writes it second, before any nested
# `details`; inside a JSON string the quotes would be escaped, so this cannot match there).
_OCCURRED_AT = re.compile(rb'"occurred_at":"([^"\\]{1,64})"')


def export_request_info(
    flt: Any, fmt: str, lang: str, created_by: str, extra: Sequence[str] = ()
) -> ExportRequestInfo:
    """What an export of `flt` (a `query.filters.ActivityFilter`) asks, for its manifest.

    `from`/`to` are the resolved UTC bounds (`to` exclusive), `tz` the zone the
    dates were given in; `columns` the file's own column names.
    """
    filters = {
        name: value
        for name in ("customer_id", "customer", "action", "partner_user", "status", "q")
        if (value := getattr(flt, name, None))
    }
    return ExportRequestInfo(
        partner_id=flt.partner_id if flt.partner_id is not None else ALL_PARTNERS,
        created_by=created_by,
        from_=iso_ms(flt.range.start),
        to=iso_ms(flt.range.end),
        tz=flt.range.tz,
        filters=filters,
        format=fmt,
        lang=lang,
        columns=export_columns(fmt, lang, extra),
    )


def export_columns(fmt: str, lang: str, extra: Sequence[str] = ()) -> list[str]:
    """The column names a file of `fmt` carries (the CSV header in `lang`)."""
    if fmt == "csv":
        return header_row(lang, extra)
    if fmt == "parquet":
        return [name for name, _ in PARQUET_SELECT]

    return list(RECORD_COLUMNS)


def file_facts(path: Path, fmt: str) -> ExportFacts:
    """The facts of a file on disk (what `verify` compares with the manifest)."""
    tap = ExportTap(fmt)
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            tap.update(chunk)
    return tap.facts()


_UNQUOTED_END = re.compile(r"[,\r\n]")


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
        return iso_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text or None


def _parquet_facts(head: bytes, tail: bytes, size: int) -> tuple[int, str | None, str | None]:
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
    return iso_ms(value) if isinstance(value, datetime) else None


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


# -- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """One thing that does not match: its name (`MISMATCHES`) and what was found."""

    name: str
    detail: str


@dataclass
class Verdict:
    """The outcome of a verification: the mismatches (empty = OK) and notes."""

    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def names(self) -> list[str]:
        return [m.name for m in self.mismatches]


def check_file(file: Path, manifest: Mapping[str, Any], *, signing_key: bytes | None) -> Verdict:
    """Compare `file` with its manifest: hash, rows, event times, and the signature."""
    verdict = Verdict()
    fmt = str(manifest.get("format", ""))
    if fmt not in ("csv", "jsonl", "parquet"):
        verdict.mismatches.append(Mismatch("format", f"unknown format {fmt!r} in the manifest"))
        return verdict
    facts = file_facts(file, fmt)
    if facts.sha256 != manifest.get("sha256"):
        verdict.mismatches.append(
            Mismatch(
                "sha256",
                f"the file hashes to {facts.sha256}, the manifest says {manifest.get('sha256')}",
            )
        )
    if facts.rows != manifest.get("rows"):
        verdict.mismatches.append(
            Mismatch(
                "rows",
                f"the file holds {facts.rows} rows, the manifest says {manifest.get('rows')}",
            )
        )
    for name, found in (
        ("first_event_at", facts.first_event_at),
        ("last_event_at", facts.last_event_at),
    ):
        if found != manifest.get(name):
            verdict.mismatches.append(
                Mismatch(name, f"the file says {found}, the manifest says {manifest.get(name)}")
            )
    check_signature(manifest, signing_key, verdict)
    return verdict


def check_signature(
    manifest: Mapping[str, Any], signing_key: bytes | None, verdict: Verdict
) -> None:
    """Add a `signature` mismatch (or a note when no key is at hand) to `verdict`."""
    signature = manifest.get("signature")
    if signing_key is None:
        if signature is not None:
            verdict.notes.append(
                f"signature (key {manifest.get('key_id')}) not checked: "
                "set ACTIVITYLOG_EXPORT_SIGNING_KEY to check it"
            )
        return
    if not isinstance(signature, str):
        verdict.mismatches.append(Mismatch("signature", "the manifest is not signed"))
        return
    if not hmac.compare_digest(sign(manifest, signing_key), signature):
        verdict.mismatches.append(
            Mismatch(
                "signature",
                "does not match with the key given "
                f"(the manifest names key {manifest.get('key_id')})",
            )
        )


def check_chain(
    manifests: Sequence[Mapping[str, Any]], names: Sequence[str], *, signing_key: bytes | None
) -> Verdict:
    """Check that each manifest's `previous` is the SHA-256 of the one before (same partner)."""
    verdict = Verdict()
    for index, manifest in enumerate(manifests):
        one = Verdict()
        check_signature(manifest, signing_key, one)
        for m in one.mismatches:
            verdict.mismatches.append(Mismatch(m.name, f"{names[index]}: {m.detail}"))
        verdict.notes.extend(f"{names[index]}: {n}" for n in one.notes)
        if index == 0:
            continue
        before = manifests[index - 1]
        expected = manifest_digest(before)
        if manifest.get("partner_id") != before.get("partner_id"):
            verdict.mismatches.append(
                Mismatch(
                    "chain",
                    f"{names[index]} is partner {manifest.get('partner_id')!r}, "
                    f"{names[index - 1]} is partner {before.get('partner_id')!r}",
                )
            )
        elif manifest.get("previous") != expected:
            verdict.mismatches.append(
                Mismatch(
                    "chain",
                    f"{names[index]}: previous is {manifest.get('previous')}, "
                    f"the SHA-256 of {names[index - 1]} is {expected}",
                )
            )
    return verdict


def verify(file: Path, manifest: Mapping[str, Any], *, signing_key: bytes | None) -> list[str]:
    """The names of what does not match between `file` and `manifest`; [] means OK."""
    return check_file(file, manifest, signing_key=signing_key).names()
