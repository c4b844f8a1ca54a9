"""The one spelling of a JSON value we store (an event's `details`, an order's line items)."""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float.
_LONG_DIGITS: Final = re.compile(r"[0-9]{19}")


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
    """The value of stored JSON text, or None when it is empty or not JSON.

    Integers keep every digit: text that may hold one beyond 64 bits is read
    by the stdlib, orjson (faster) reads the rest.
    """
    if not text:
        return None
    try:
        if _LONG_DIGITS.search(text):
            return json.loads(text)
        return orjson.loads(text)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return None
