"""The one spelling of a JSON value we store (an event's `details`, an order's line items)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_text(value: Any) -> str:
    """Compact JSON text of `value` (orjson, or the stdlib for what orjson refuses).

    Why the fallback: the contract lets `details` (and unknown line-item fields)
    carry any JSON, and JSON integers have no size limit, but orjson refuses
    integers beyond 64 bits; such a valid event must still be stored, not
    dead-lettered as a bug (found by the decode fuzzing in `tests/unit/test_fuzz_decode.py`).
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_json(text: str) -> Any:
    """The value of stored JSON text, or None when it is empty or not JSON."""
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text)  # integers beyond 64 bits
        except ValueError:
            return None
