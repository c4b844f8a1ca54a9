"""HTTP Range requests (RFC 9110 §14) for resumable downloads: pure parsing, no I/O.

One byte range per request (`bytes=START-END`, `bytes=START-`, `bytes=-SUFFIX`),
which is what download managers and `activitylog export --job` send to
resume a broken transfer. Several ranges in one request are answered with
the whole file (RFC 9110 lets a server ignore Range), and a range that
starts past the end is unsatisfiable (416, `common.errors.RangeNotSatisfiable`).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import RangeNotSatisfiable


@dataclass(frozen=True)
class ByteRange:
    """Inclusive byte positions [first, last] of a file of `size` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range asked for, or None to send the whole file.

    None for no header, another unit, several ranges or a malformed value
    (all of which a server may answer with the whole file); raises
    RangeNotSatisfiable when the range lies wholly past the end.
    """
    if not header:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    start_text, dash, end_text = spec.strip().partition("-")
    start_text, end_text = start_text.strip(), end_text.strip()
    if not dash or not (start_text.isdigit() or start_text == ""):
        return None
    if end_text and not end_text.isdigit():
        return None
    if start_text == "":  # a suffix: the last N bytes
        if not end_text:
            return None
        suffix = int(end_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1, size)
    first = int(start_text)
    last = int(end_text) if end_text else size - 1
    if end_text and last < first:
        return None  # invalid: ignore the header
    if first >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(first, min(last, size - 1), size)


def etag_for(sha256: str) -> str:
    """The strong entity tag of a finished export: its SHA-256, quoted."""
    return f'"{sha256}"'


def if_range_matches(if_range: str | None, etag: str) -> bool:
    """Whether a Range may be honoured: no If-Range, or one naming the current ETag.

    A date in If-Range (or a weak tag) never matches: the client then gets
    the whole file, which is always correct.
    """
    if if_range is None:
        return True
    return if_range.strip() == etag
