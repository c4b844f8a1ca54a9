"""An xlsx export's rows and first and last event times, read from its zip stream as it passes.

The tap sees the workbook as bytes in order, never as a seekable file, so
this reads the zip the way it was written: each local entry header, then
the entry's deflated data (inflated until its stream ends, in bounded
steps), then its data descriptor. Only the worksheets are scanned: a data
row is a `<row>` element without attributes (the header row is
`<row r="1">`), so counting rows is a byte search per inflated chunk. Event
times come from the date cell of the first and last data rows, an Excel
serial day in the zone the first sheet's header names, turned back into UTC.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.timefmt import iso_utc

_LOCAL: Final = b"PK\x03\x04"
_DESCRIPTOR: Final = b"PK\x07\x08"
_CENTRAL: Final = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")
_HEADER_SIZE: Final = 30
_ZIP64_EXTRA: Final = 1
_HAS_DESCRIPTOR: Final = 0x08
_DEFLATED: Final = 8
_SHEET: Final = re.compile(rb"xl/worksheets/sheet\d+\.xml")
_ROW: Final = b"<row>"
_ROW_PREFIX: Final = 256  # what is kept of a row: enough for its date cell
_INFLATE_STEP: Final = 4 << 20  # inflated bytes per step, whatever the compression ratio
_SERIAL: Final = re.compile(rb'<row><c s="\d+"><v>([0-9.eE+-]{1,40})</v>')
_HEAD_ZONE: Final = re.compile(rb'<row r="1"[^>]*><c[^>]*><is><t[^>]*>[^<]*\(([^()<]{1,64})\)</t>')
_EXCEL_EPOCH: Final = datetime(1899, 12, 30)


class XlsxRows:
    """Rows and event times of an xlsx stream, chunk by chunk (memory: one inflate step)."""

    def __init__(self) -> None:
        self.rows = 0
        self.broken = ""  # why the stream is not a workbook this reader can follow
        self._buffer = b""  # undecoded bytes: a header or descriptor not yet complete
        self._inflate: zlib._Decompress | None = None
        self._stored_left = 0  # a stored entry with known size: bytes still to pass
        self._descriptor = 0  # bytes of data descriptor to skip (0: none pending)
        self._in_sheet = False
        self._done = False  # the central directory began: no more entries
        self._tail = b""  # the last bytes of the sheet scanned so far (a `<row>` may straddle)
        self._first: bytes | None = None
        self._last: bytes | None = None
        self._sheets = 0
        self._zone_head = b""  # the first sheet's opening bytes, for the zone in its header

    def update(self, chunk: bytes) -> None:
        if self._done or self.broken:
            return
        data = self._buffer + chunk if self._buffer else chunk
        self._buffer = b""
        while data and not (self._done or self.broken):
            data = self._step(data)

    def _step(self, data: bytes) -> bytes:
        """Consume what can be consumed of `data`; return the rest (kept when it is too short)."""
        if self._inflate is not None:
            return self._inflating(data)
        if self._stored_left:
            piece = data[: self._stored_left]
            self._stored_left -= len(piece)
            self._sheet_bytes(piece)
            return data[len(piece) :]
        if self._descriptor:
            if len(data) < 4:
                self._buffer = data
                return b""
            size = self._descriptor + (4 if data.startswith(_DESCRIPTOR) else 0)
            if len(data) < size:
                self._buffer = data
                return b""
            self._descriptor = 0
            return data[size:]
        return self._entry_header(data)

    def _entry_header(self, data: bytes) -> bytes:
        if len(data) < 4:
            self._buffer = data
            return b""
        if data[:4] in _CENTRAL:
            self._done = True
            return b""
        if not data.startswith(_LOCAL):
            self.broken = "not a zip entry where one should start"
            return b""
        if len(data) < _HEADER_SIZE:
            self._buffer = data
            return b""
        flags, method = struct.unpack_from("<HH", data, 6)
        compressed, _ = struct.unpack_from("<II", data, 18)
        name_size, extra_size = struct.unpack_from("<HH", data, 26)
        end = _HEADER_SIZE + name_size + extra_size
        if len(data) < end:
            self._buffer = data
            return b""
        name = data[_HEADER_SIZE : _HEADER_SIZE + name_size]
        zip64 = _has_zip64(data[_HEADER_SIZE + name_size : end])
        self._in_sheet = _SHEET.fullmatch(name) is not None
        if self._in_sheet:
            self._sheets += 1
            self._tail = b""
        if flags & _HAS_DESCRIPTOR:
            self._descriptor = 4 + (16 if zip64 else 8)  # CRC and both sizes; signature optional
        if method == _DEFLATED:
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        elif flags & _HAS_DESCRIPTOR:
            self.broken = "a stored entry of unknown size"
        else:
            self._stored_left = compressed
        return data[end:]

    def _inflating(self, data: bytes) -> bytes:
        assert self._inflate is not None
        inflate = self._inflate
        pending = data
        while pending and not inflate.eof:
            try:
                out = inflate.decompress(pending, _INFLATE_STEP)
            except zlib.error as exc:
                self.broken = f"bad deflate data: {exc}"
                return b""
            self._sheet_bytes(out)
            pending = inflate.unconsumed_tail
        if inflate.eof:
            self._inflate = None
            return inflate.unused_data
        return b""

    def _sheet_bytes(self, data: bytes) -> None:
        """Scan inflated worksheet bytes for data rows (other entries are passed over)."""
        if not self._in_sheet or not data:
            return
        if self._sheets == 1 and len(self._zone_head) < 4096:
            self._zone_head += data[: 4096 - len(self._zone_head)]
        for kept in ("_first", "_last"):
            value = getattr(self, kept)
            if value is not None and len(value) < _ROW_PREFIX:
                setattr(self, kept, value + data[: _ROW_PREFIX - len(value)])
        scanned = self._tail + data
        found = scanned.count(_ROW)
        if found:
            self.rows += found
            if self._first is None:
                at = scanned.find(_ROW)
                self._first = scanned[at : at + _ROW_PREFIX]
            at = scanned.rfind(_ROW)
            self._last = scanned[at : at + _ROW_PREFIX]
        self._tail = scanned[-(len(_ROW) - 1) :]

    def times(self) -> tuple[str | None, str | None]:
        """The first and last data rows' event times (UTC, the manifest's spelling)."""
        found = _HEAD_ZONE.search(self._zone_head)
        zone = found[1].decode("utf-8", errors="replace") if found else "UTC"
        return _event_time(self._first, zone), _event_time(self._last, zone)


def _has_zip64(extra: bytes) -> bool:
    at = 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, at)
        if kind == _ZIP64_EXTRA:
            return True
        at += 4 + size
    return False


def _event_time(row: bytes | None, zone: str) -> str | None:
    """The UTC instant of a row's date cell, read in `zone` (its wall-clock time there)."""
    found = _SERIAL.match(row) if row is not None else None
    if found is None:
        return None
    try:
        serial = float(found[1])
        tz = ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        return found[1].decode("ascii", errors="replace")
    local = _EXCEL_EPOCH + timedelta(milliseconds=round(serial * 86_400_000))
    return iso_utc(local.replace(tzinfo=tz).astimezone(UTC))
