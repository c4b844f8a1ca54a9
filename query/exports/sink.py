"""A write-only file object whose bytes are taken out as they are written.

Parquet's and zip's writers want a file; a streamed export wants the bytes
of each step as soon as they exist, so the writer writes here and the
export takes what was written after each step (memory: one step's bytes).
It can tell its position but not seek: zip writers then write each
entry's sizes after its data (a data descriptor), as a stream needs.
"""

from __future__ import annotations

from typing import Any


class ByteSink:
    """Collects written bytes until `take` hands them over."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False
        self.position = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out
