"""The language of a read that returns readable text: `lang`, else `Accept-Language`, else en.

An unsupported `lang` is a 400 naming the supported ones; an
`Accept-Language` is a preference, so a header naming no supported
language gets the default.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query

from schemas.readable.catalogs import LANGUAGES, check_language, negotiate

LANG_HELP = f"Language of the readable texts: {' | '.join(LANGUAGES)} (default: Accept-Language)"


def read_language(
    lang: Annotated[str | None, Query(description=LANG_HELP)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> str:
    if lang:
        return check_language(lang)
    return negotiate(accept_language)


LangDep = Annotated[str, Depends(read_language)]
