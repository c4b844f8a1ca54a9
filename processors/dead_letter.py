"""Dead-letter headers: the original bytes travel unchanged, the why travels in headers.

Header names are part of the contract of `activity.dead-letter.v1` (docs/contracts.md).
"""

from __future__ import annotations

from processors.batch import Rejected

HEADER_PREFIX = "activitylog."
SOURCE_TOPIC = HEADER_PREFIX + "source_topic"
SOURCE_PARTITION = HEADER_PREFIX + "source_partition"
SOURCE_OFFSET = HEADER_PREFIX + "source_offset"
ERROR_CLASS = HEADER_PREFIX + "error_class"
REASON = HEADER_PREFIX + "reason"

MAX_REASON_BYTES = 2000


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
