"""Numbers and amounts by CLDR rules (Babel's locale data), as string operations.

Amounts in the log are decimal strings (`"12.50"`, a line item's
`unit_price`) and quantities integers; both are formatted from their digits,
never through a float, so what the upstream sent is exactly what reads: the
integer part grouped by the locale's symbol, the locale's decimal symbol,
the currency's CLDR number of decimals reached by padding with zeros. More
decimals than the currency has are kept, not rounded: an audit log must not
alter an amount. The same steps are written in SQL for the CSV export
(`schemas/readable/sql.py`), which reads the facts below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Final

from babel import Locale
from babel.numbers import (
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
)

DECIMAL_TEXT: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?")
INTEGER_TEXT: Final = re.compile(r"-?[0-9]+")
DEFAULT_DIGITS: Final = 2


@dataclass(frozen=True)
class NumberFacts:
    """What formatting a number and an amount needs in one language."""

    decimal: str
    group: str
    # The currency pattern around the number, `¤` standing for the symbol.
    positive_prefix: str
    positive_suffix: str
    negative_prefix: str
    negative_suffix: str
    # Currencies whose symbol here is not their ISO code, and their symbol.
    symbols: dict[str, str]


@cache
def number_facts(lang: str) -> NumberFacts:
    """The CLDR facts of `lang`; only patterns grouped by threes (as en and fr) are supported."""
    locale = Locale.parse(lang)
    pattern = locale.currency_formats["standard"]
    if pattern.grouping != (3, 3):
        raise ValueError(f"{lang}: grouping {pattern.grouping} is not supported yet")
    symbols = {}
    for code in sorted(list_currencies()):
        symbol = get_currency_symbol(code, locale)
        if symbol != code:
            symbols[code] = symbol
    return NumberFacts(
        decimal=get_decimal_symbol(locale),
        group=get_group_symbol(locale),
        positive_prefix=pattern.prefix[0],
        positive_suffix=pattern.suffix[0],
        negative_prefix=pattern.prefix[1],
        negative_suffix=pattern.suffix[1],
        symbols=symbols,
    )


@cache
def currency_digits() -> dict[str, int]:
    """The currencies whose CLDR number of decimals is not `DEFAULT_DIGITS`."""
    digits = {code: get_currency_precision(code) for code in sorted(list_currencies())}
    return {code: n for code, n in digits.items() if n != DEFAULT_DIGITS}


def group_digits(digits: str, group: str) -> str:
    """`1234567` -> `1<group>234<group>567` (digits only, no sign)."""
    head = (len(digits) - 1) % 3 + 1
    parts = [digits[:head], *(digits[i : i + 3] for i in range(head, len(digits), 3))]
    return group.join(parts)


def format_integer(text: str, lang: str) -> str:
    """An integer's text (`-1234`) grouped for `lang`; `INTEGER_TEXT` is the caller's check."""
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    return sign + group_digits(digits, number_facts(lang).group)


def format_amount(text: str, currency: str, lang: str) -> str:
    """A decimal text (`DECIMAL_TEXT`) in `currency`, CLDR style: `€12.50`, `12,50 €`."""
    facts = number_facts(lang)
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    digits = currency_digits().get(currency, DEFAULT_DIGITS)
    fraction = fraction.ljust(digits, "0")
    number = group_digits(whole, facts.group) + (facts.decimal + fraction if fraction else "")
    symbol = facts.symbols.get(currency, currency)
    if negative:
        prefix, suffix = facts.negative_prefix, facts.negative_suffix
    else:
        prefix, suffix = facts.positive_prefix, facts.positive_suffix
    return prefix.replace("¤", symbol) + number + suffix.replace("¤", symbol)
