"""Dead-letter headers: the original bytes travel unchanged, the why travels in headers.

The header names are a contract of `activity.dead-letter.v1`, kept in
`schemas.dead_letter`; this module fills them in for one rejected message.
"""

from __future__ import annotations

from processors.batch import Rejected
from schemas.dead_letter import (
    ERROR_CLASS,
    HEADER_PREFIX,
    MAX_REASON_BYTES,
    REASON,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
)


def dead_letter_headers(rejected: Rejected) -> list[tuple[str, bytes]]:
    """The original headers, then ours naming the source coordinates and the reason."""
    m = rejected.message
    ours = [
        (SOURCE_TOPIC, m.topic.encode()),
        (SOURCE_PARTITION, str(m.partition).encode()),
        (SOURCE_OFFSET, str(m.offset).encode()),
        (ERROR_CLASS, rejected.error_class.encode()),
        (REASON, rejected.reason.encode("utf-8")[:MAX_REASON_BYTES]),
    ]
    kept = [(k, v) for k, v in m.headers if not k.startswith(HEADER_PREFIX)]
    return kept + ours
