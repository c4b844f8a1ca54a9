"""The message catalogs: one gettext `.po` file per language, read once with Babel.

A third language is one more `locales/<lang>/LC_MESSAGES/activity.po`: the
languages are the folders found here, English first (the default).
Messages are keyed (`action.user.delete`), so a code maps to its text by
name, in Python and in the CSV export's SQL alike; `{name}` placeholders
are filled by `render.py`. The `.po` files are read directly (no compiled
`.mo`): they are small and read once per process.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Final

from babel.core import negotiate_locale
from babel.messages.pofile import read_po

from common.errors import BadQuery

LOCALES_DIR: Final = Path(__file__).with_name("locales")
DOMAIN: Final = "activity"
DEFAULT_LANGUAGE: Final = "en"


def _found_languages() -> tuple[str, ...]:
    found = sorted(p.name for p in LOCALES_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())
    return (DEFAULT_LANGUAGE, *(lang for lang in found if lang != DEFAULT_LANGUAGE))


LANGUAGES: Final[tuple[str, ...]] = _found_languages()


@cache
def messages(lang: str) -> Mapping[str, str]:
    """Every translated message of `lang`, by key (an untranslated one is left out)."""
    path = LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    return {
        str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.string, str) and m.string
    }


def check_language(lang: str) -> str:
    """`lang` if a catalog exists for it, else a BadQuery naming the supported ones."""
    if lang not in LANGUAGES:
        raise BadQuery("lang", f"unsupported language {lang!r} (use {', '.join(LANGUAGES)})")
    return lang


def message(lang: str, key: str) -> str | None:
    """The text of `key` in `lang`, or None when that catalog lacks it."""
    return messages(lang).get(key)


def keys_with_prefix(lang: str, prefix: str) -> dict[str, str]:
    """`{rest: text}` for every key of `lang` starting with `prefix` (`action.` -> codes)."""
    return {k[len(prefix) :]: v for k, v in messages(lang).items() if k.startswith(prefix)}


def template_parts(template: str) -> list[tuple[str, str | None]]:
    """A `{name}` template as (literal, field name or None) pieces, in order."""
    return [(literal, field) for literal, field, _, _ in Formatter().parse(template)]


def negotiate(accept_language: str | None) -> str:
    """The supported language an `Accept-Language` header prefers most, else the default.

    Tags are tried by their `q` weight (ties in header order; `q=0` means
    never); Babel matches `fr-FR` to `fr`.
    """
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and tag != "*" and weight > 0:
            wanted.append((-weight, index, tag.lower()))
    preferred = [tag for _, _, tag in sorted(wanted)]
    found = negotiate_locale(preferred, LANGUAGES, sep="-")
    return found.lower() if found else DEFAULT_LANGUAGE
