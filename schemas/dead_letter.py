"""Headers of `activity.dead-letter.v1` (docs/contracts.md): why a message could not be stored.

The original key, value and headers travel unchanged; these headers, all under
`HEADER_PREFIX`, are added. Consumers of the dead-letter topic read them by
name, so the names and the reason's size limit are part of the contract.
"""

from __future__ import annotations

from typing import Final

HEADER_PREFIX: Final = "activitylog."
SOURCE_TOPIC: Final = HEADER_PREFIX + "source_topic"
SOURCE_PARTITION: Final = HEADER_PREFIX + "source_partition"
SOURCE_OFFSET: Final = HEADER_PREFIX + "source_offset"
ERROR_CLASS: Final = HEADER_PREFIX + "error_class"
REASON: Final = HEADER_PREFIX + "reason"

# The reason is cut to this many UTF-8 bytes.
MAX_REASON_BYTES: Final = 2000
