"""The pure step of the pipeline: a batch of consumed messages -> rows + dead letters.

Like Snuba's message processor, this is a plain function of its input:
the Faust shell hands it raw messages with their Kafka coordinates and gets
back the rows to insert and the messages to dead-letter, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple

from common.errors import InvalidEvent
from processors.normalize import STORED_LANGUAGE, KafkaMeta, normalize
from schemas.activity import ACTIVITY_COLUMN_NAMES, ActivityRow
from schemas.events import validate_event
from schemas.stored_texts import digest_column, texts_digest

WRITTEN_DIGEST: Final = texts_digest(STORED_LANGUAGE)
INSERT_COLUMN_NAMES: Final = (*ACTIVITY_COLUMN_NAMES, digest_column(STORED_LANGUAGE))


class Consumed(NamedTuple):
    """One Kafka message as consumed: value bytes untouched, with its coordinates.

    A named tuple rather than a frozen dataclass: one is built per message on
    the hot path, and a tuple costs a third of a frozen dataclass to create.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that cannot become an activity, and why."""

    message: Consumed
    error_class: str
    reason: str


@dataclass
class BatchResult:
    rows: list[ActivityRow] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def decode(message: Consumed, max_bytes: int) -> Any:
    """Validate one message against its topic's v1 contract (docs/contracts.md), enums lenient."""
    if message.value is None:
        raise InvalidEvent("", "message has no value (tombstone)")
    if len(message.value) > max_bytes:
        raise InvalidEvent("", f"message is {len(message.value)} bytes, over the {max_bytes} limit")
    return validate_event(message.topic, message.value, lenient_enums=True)


def process_batch(batch: Iterable[Consumed], ingested_at: datetime, max_bytes: int) -> BatchResult:
    """Decode, validate and normalize each message; never raises on bad input."""
    result = BatchResult()
    rows_append = result.rows.append
    for message in batch:
        try:
            event = decode(message, max_bytes)
            meta = KafkaMeta(message.topic, message.partition, message.offset)
            rows_append(normalize(event, message.value, meta, ingested_at))  # type: ignore[arg-type]
        except InvalidEvent as exc:
            result.rejected.append(Rejected(message, type(exc).__name__, str(exc)))
        except Exception as exc:  # a bug must dead-letter the message, not stop the stream
            result.rejected.append(Rejected(message, type(exc).__name__, f"unexpected: {exc}"))
    return result


def insert_columns(rows: Sequence[ActivityRow]) -> tuple[list[list[Any]], tuple[str, ...]]:
    """(columns, names) of the worker's insert: the rows' columns, then the English
    texts' digest (`schemas/stored_texts.py`), which says `normalize` rendered them
    with this code's catalog."""
    columns = to_columns(rows)
    columns.append([WRITTEN_DIGEST] * len(rows))
    return columns, INSERT_COLUMN_NAMES


def to_columns(rows: Sequence[ActivityRow]) -> list[list[Any]]:
    """Row dicts -> one list per column, in `ACTIVITY_COLUMN_NAMES` order (a columnar insert).

    `normalize` builds every row with its keys in column order, so the rows
    are transposed by position (one C-level `zip`); rows built any other way
    take the slower path by name.
    """
    if not rows:
        return [[] for _ in ACTIVITY_COLUMN_NAMES]
    if all(tuple(row) == ACTIVITY_COLUMN_NAMES for row in rows):
        return [list(column) for column in zip(*(row.values() for row in rows), strict=True)]
    return [[row[name] for row in rows] for name in ACTIVITY_COLUMN_NAMES]  # type: ignore[literal-required]
