"""Reading JSONL event files (plain or gzip, or stdin) line by line."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from common.errors import ConfigError

GZIP_MAGIC = b"\x1f\x8b"


def open_jsonl(source: str) -> IO[bytes]:
    """Open a file path, or `-` for stdin; gzip is detected by its magic bytes."""
    if source == "-":
        raw: IO[bytes] = sys.stdin.buffer
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError("FILE", f"{source} does not exist")
        if path.is_dir():
            raise ConfigError("FILE", f"{source} is a directory, not a JSONL file")
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise ConfigError("FILE", f"cannot read {source}: {exc.strerror}") from exc
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw))
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffered))
    return buffered


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, stripped bytes) for every non-blank line."""
    for number, line in enumerate(stream, start=1):
        line = line.strip()
        if line:
            yield number, line
