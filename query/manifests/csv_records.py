"""Where the records of a CSV export end: its newlines outside double quotes, found with numpy.

ClickHouse quotes every string cell, and a quoted cell may hold newlines,
so a record ends at a newline outside quotes (cells split by `,`, or `;`
for csv-fr); finding those in bulk is what keeps counting a long export's
rows cheap (`query.manifests.facts`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_NEWLINE, _QUOTE, _CR, _COMMA = 10, 34, 13, 44


def record_ends(data: bytes, start: int = 0, delimiter: int = _COMMA) -> Any:
    """The offsets of the newlines that end a record in `data[start:]`, which starts a record.

    `delimiter` is the byte between cells (`,` or `;`).

    A newline ends a record when it is outside double quotes. Why numpy: a
    Python step per byte or per row would cost more than the export itself;
    this is a few vectorized passes per chunk. A newline right after `"\r`
    whose quote stands alone (no quote, delimiter or newline before it) follows a
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
        & (before != delimiter)
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
