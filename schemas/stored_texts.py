"""The readable texts stored with each row, in every language, and how current they are.

Exports read texts rendered once, when the row was written, instead of
rendering them per row at read time (docs/architecture.md, Readable texts).

* English: `action_text`, `status_text`, `additional_info`, written by the
  worker (Python, `schemas/readable/render.py`), which also writes
  `texts_digest_en`, the digest of the rendering it used.
* Every other language of `LANGUAGES`: `<column>_<lang>` columns whose
  MATERIALIZED expressions are exactly `readable_sql(lang)` (proved equal to
  the Python renderer), so ClickHouse computes them at insert, and
  `texts_digest_<lang>`, MATERIALIZED as the digest of those expressions.

The digest of a language is that of the SQL rendering it
(`schemas/readable/sql.py`): every catalog text, CLDR fact and rule it
applies is in that text, so a catalog edit, a new wording or a rule change
gives a new digest. A row whose digest is not the running code's has texts
that code would not write: an export then renders in SQL
(`query/exports/texts.py`) until `activitylog migrate` re-renders the stale
rows (`schemas/rerender.py`).
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Final

from schemas.activity import ACTIVITY_TABLE
from schemas.readable.catalogs import DEFAULT_LANGUAGE, LANGUAGES
from schemas.readable.render import READABLE_COLUMNS
from schemas.readable.sql import STORED_DETAILS, readable_sql

DIGEST_TYPE: Final = "UInt64"
# The language the worker renders in Python (`processors/normalize.py`).
WRITTEN_LANGUAGE: Final = DEFAULT_LANGUAGE
# The languages ClickHouse renders at insert.
MATERIALIZED_LANGUAGES: Final[tuple[str, ...]] = tuple(
    lang for lang in LANGUAGES if lang != WRITTEN_LANGUAGE
)


def digest_column(lang: str) -> str:
    """The column holding the digest of the rendering a row's `lang` texts came from."""
    return f"texts_digest_{lang}"


def text_columns(lang: str) -> dict[str, str]:
    """`{readable column: the stored column holding it in lang}`."""
    if lang == WRITTEN_LANGUAGE:
        return {name: name for name in READABLE_COLUMNS}
    return {name: f"{name}_{lang}" for name in READABLE_COLUMNS}


def stored_text_columns() -> dict[str, str]:
    """`{column: type}` of every stored-text column besides `ACTIVITY_COLUMNS`, in table order.

    The English digest, which the worker writes (migration 0008), then each
    other language's MATERIALIZED texts and digest.
    """
    columns = {digest_column(WRITTEN_LANGUAGE): DIGEST_TYPE}
    for lang in MATERIALIZED_LANGUAGES:
        columns |= dict.fromkeys(text_columns(lang).values(), "String")
        columns[digest_column(lang)] = DIGEST_TYPE
    return columns


@cache
def stored_sql(lang: str) -> dict[str, str]:
    """`readable_sql(lang)` as a column of `activity` computes it (the bare `details`)."""
    return readable_sql(lang, STORED_DETAILS)


@cache
def texts_digest(lang: str) -> int:
    """The digest of `lang`'s rendering: the first 8 bytes of SHA-256 of its SQL, a UInt64."""
    sql = stored_sql(lang)
    text = "\n".join(f"{name}={sql[name]}" for name in READABLE_COLUMNS)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _materialized(lang: str) -> list[str]:
    """`<column> <type> MATERIALIZED <expression>` of `lang`'s stored texts and digest."""
    sql = stored_sql(lang)
    columns = [
        f"{stored} String MATERIALIZED {sql[name]}" for name, stored in text_columns(lang).items()
    ]
    return [*columns, f"{digest_column(lang)} {DIGEST_TYPE} MATERIALIZED {texts_digest(lang)}"]


def add_columns(lang: str) -> str:
    """The ALTER adding `lang`'s stored columns to a table without them (a no-op otherwise)."""
    clauses = ", ".join(f"ADD COLUMN IF NOT EXISTS {c}" for c in _materialized(lang))
    return f"ALTER TABLE {ACTIVITY_TABLE} {clauses}"


def modify_columns(lang: str) -> str:
    """The ALTER giving `lang`'s stored columns the running code's expressions.

    Metadata only: rows inserted after it get the new texts and digest;
    parts already written keep theirs (and their old digest) until
    re-rendered.
    """
    clauses = ", ".join(f"MODIFY COLUMN {c}" for c in _materialized(lang))
    return f"ALTER TABLE {ACTIVITY_TABLE} {clauses}"
