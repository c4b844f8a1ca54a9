"""The readable columns as SQL, generated from the catalogs and CLDR facts for one language.

ClickHouse computes a readable text from these expressions in two places:
at insert, as the MATERIALIZED expressions of each other language's stored
texts (`schemas/stored_texts.py`), and in an export that cannot read stored
texts known to be current (`query/exports/csv.py`, `xlsx.py`). This module
builds the expressions: every phrase comes from the language's catalog (a
`transform()` over the known codes, a `{name}` template as a `concat()`),
every number symbol, currency pattern, symbol and number of decimals from
Babel's CLDR data. No per-row Python.

The rules are `render.py`'s, step for step; `tests/integration/test_readable_sql.py`
proves the two agree on the simulator's events and on edge cases. Where they
can differ (docs/contracts.md, Readable columns): a details value that is a
floating-point number, or an integer beyond 64 bits inside a nested value,
is spelled as ClickHouse writes JSON, and an object with a repeated key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from schemas.readable.catalogs import keys_with_prefix, message, template_parts
from schemas.readable.numbers import DEFAULT_DIGITS, currency_digits, number_facts
from schemas.readable.render import DETAIL_SEPARATOR, MISSING

# The stored column the expressions read; `activity.details` is spelled out so
# that a SELECT alias named `details` can never shadow it. A column's own
# MATERIALIZED expression names it bare (`STORED_DETAILS`): ClickHouse
# resolves a default expression against the table's columns alone.
DETAILS: Final = "activity.details"
STORED_DETAILS: Final = "details"
_INTEGER_RE: Final = "'^-?[0-9]+$'"
_DECIMAL_RE: Final = r"'^-?[0-9]+(\\.[0-9]+)?$'"


def _let(name: str, value: str, body: str) -> str:
    """`body` with `name` bound to `value`, computed once (a one-element `arrayMap`).

    Lets a long expression be used several times without repeating its text
    (the query stays small) or its work.
    """
    return f"arrayMap({name} -> {body}, [{value}])[1]"


def lit(text: str) -> str:
    """A ClickHouse string literal of `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _array(texts: list[str]) -> str:
    return "[" + ", ".join(lit(t) for t in texts) + "]"


def _template(lang: str, key: str, fields: Mapping[str, str]) -> str:
    """The message `key` as a `concat()` of its literals and the SQL of its fields."""
    template = message(lang, key)
    if template is None:
        raise LookupError(f"the {lang} catalog has no message {key!r}")
    parts: list[str] = []
    for literal, field in template_parts(template):
        if literal:
            parts.append(lit(literal))
        if field is not None:
            parts.append(fields[field])
    if not parts:
        return "''"
    return parts[0] if len(parts) == 1 else f"concat({', '.join(parts)})"


def _lookup(lang: str, prefix: str, code: str, default: str) -> str:
    """`transform(code, [keys], [texts], default)` over the catalog's `<prefix>.<key>` texts."""
    known = keys_with_prefix(lang, prefix)
    known.pop("other", None)
    if not known:
        return default
    keys = sorted(known)
    return f"transform({code}, {_array(keys)}, {_array([known[k] for k in keys])}, {default})"


def _words(code: str) -> str:
    """SQL of `render.words`: the code's words, the first letter upper-case."""
    text = f"arrayStringConcat(arrayFilter(w -> w != '', splitByRegexp('[._]+', {code})), ' ')"
    return _let(
        "w_text", text, "concat(upperUTF8(substringUTF8(w_text, 1, 1)), substringUTF8(w_text, 2))"
    )


def _coded(lang: str, prefix: str, code: str) -> str:
    """SQL of `render.coded`: the code's text, or `<prefix>.other` filled with it."""
    other = _template(lang, f"{prefix}.other", {"code": code, "words": _words(code)})
    return _lookup(lang, f"{prefix}.", code, other)


def _leaf(raw: str) -> str:
    """A nested JSON value's text: a string's own text, anything else its JSON."""
    return f"if(startsWith({raw}, '\"'), JSONExtractString({raw}), {raw})"


def _show(raw: str) -> str:
    """SQL of `render.show` over raw JSON: one level of an object or a list spelled out."""
    members = (
        f"arrayMap(s_kv -> concat(s_kv.1, ': ', {_leaf('s_kv.2')}), "
        "JSONExtractKeysAndValuesRaw(s_raw))"
    )
    items = f"arrayMap(s_x -> {_leaf('s_x')}, JSONExtractArrayRaw(s_raw))"
    body = (
        "multiIf(startsWith(s_raw, '\"'), JSONExtractString(s_raw), "
        f"startsWith(s_raw, '{{'), concat('{{', arrayStringConcat({members}, ', '), '}}'), "
        f"startsWith(s_raw, '['), concat('[', arrayStringConcat({items}, ', '), ']'), s_raw)"
    )
    return _let("s_raw", raw, body)


def _string_at(json: str, key: str) -> str:
    """The string at `key` of a JSON object, '' when absent or not a string."""
    return f"if(JSONType({json}, {lit(key)}) = 'String', JSONExtractString({json}, {lit(key)}), '')"


def _group(digits: str, group: str) -> str:
    """SQL of `numbers.group_digits` (digits only)."""
    head = "(modulo(length(g_digits) - 1, 3) + 1)"
    chunk = (
        f"substring(g_digits, if(g_i = 0, 1, {head} + 1 + (g_i - 1) * 3), if(g_i = 0, {head}, 3))"
    )
    count = "toUInt64(intDiv(length(g_digits) - 1, 3) + 1)"
    body = f"arrayStringConcat(arrayMap(g_i -> {chunk}, range({count})), {lit(group)})"
    return _let("g_digits", digits, body)


def _integer(text: str, lang: str) -> str:
    """SQL of `numbers.format_integer` (`text` matches `INTEGER_TEXT`)."""
    grouped = _group(
        "if(startsWith(n_text, '-'), substring(n_text, 2), n_text)", number_facts(lang).group
    )
    return _let("n_text", text, f"concat(if(startsWith(n_text, '-'), '-', ''), {grouped})")


def _amount(price: str, currency: str, lang: str) -> str:
    """SQL of `numbers.format_amount` (`price` matches `DECIMAL_TEXT`)."""
    facts = number_facts(lang)
    extra = currency_digits()
    codes = sorted(extra)
    digits = (
        f"transform({currency}, {_array(codes)}, "
        f"[{', '.join(str(extra[c]) for c in codes)}], {DEFAULT_DIGITS})"
    )
    symbols = sorted(facts.symbols)
    symbol = (
        f"transform({currency}, {_array(symbols)}, "
        f"{_array([facts.symbols[c] for c in symbols])}, {currency})"
    )

    def around(affix: str) -> str:
        pieces = affix.split("¤")
        parts = [lit(pieces[0])]
        for piece in pieces[1:]:
            parts += ["a_symbol", lit(piece)]
        return f"concat({', '.join(parts)})"

    negative = "startsWith(a_price, '-')"
    prefix = f"if({negative}, {around(facts.negative_prefix)}, {around(facts.positive_prefix)})"
    suffix = f"if({negative}, {around(facts.negative_suffix)}, {around(facts.positive_suffix)})"
    whole = _group("splitByChar('.', a_body)[1]", facts.group)
    fraction = "if(position(a_body, '.') > 0, substring(a_body, position(a_body, '.') + 1), '')"
    padded = f"rightPad(a_fraction, greatest(length(a_fraction), {digits}), '0')"
    number = f"concat({whole}, if(a_padded != '', concat({lit(facts.decimal)}, a_padded), ''))"
    body = f"concat({prefix}, {number}, {suffix})"
    body = _let("a_padded", padded, body)
    body = _let("a_fraction", fraction, body)
    body = _let("a_body", "if(startsWith(a_price, '-'), substring(a_price, 2), a_price)", body)
    body = _let("a_symbol", symbol, body)
    return _let("a_price", price, body)


def action_sql(lang: str) -> str:
    """The Action cell: the action's phrase, then the resource's name when there is one."""
    phrase = _coded(lang, "action", "toString(action)")
    named = _template(lang, "action.with_name", {"action": phrase, "name": "resource_name"})
    return f"if(resource_name != '', {named}, {phrase})"


def status_sql(lang: str) -> str:
    """The Status cell: an order's id and status, or an outcome and its resource."""
    order = _template(
        lang,
        "order.status",
        {"order_id": "order_id", "status": _coded(lang, "order_status", "toString(status)")},
    )
    outcome = _coded(lang, "outcome", "toString(status)")
    none = lit(message(lang, "resource.none") or "")
    code = "toString(resource_type)"
    kind = f"if(resource_type = '', {none}, {_lookup(lang, 'resource.', code, code)})"
    with_resource = _template(
        lang, "status.with_resource", {"status": outcome, "type": kind, "id": "resource_id"}
    )
    return f"multiIf(kind = 'order', {order}, resource_id != '', {with_resource}, {outcome})"


def _label(key: str, lang: str) -> str:
    return _lookup(lang, "field.", key, key)


def details_sql(lang: str, details: str = DETAILS) -> str:
    """A partner action's Additional information: changed fields, then every other key."""
    paired = f"(JSONType({details}, 'old') = 'Object' AND JSONType({details}, 'new') = 'Object')"
    keys = (
        f"arrayDistinct(arrayConcat(JSONExtractKeys({details}, 'old'), "
        f"JSONExtractKeys({details}, 'new')))"
    )
    # A key missing on one side reads as null there, as in Python.
    sides = (
        f"arrayMap(d_side -> if(JSONExtractRaw({details}, d_side, k) = '', 'null', "
        f"JSONExtractRaw({details}, d_side, k)), ['old', 'new'])"
    )
    change = _template(
        lang,
        "detail.change",
        {
            "label": _label("d_pair.1", lang),
            "old": _show("d_pair.2[1]"),
            "new": _show("d_pair.2[2]"),
        },
    )
    changes = (
        f"arrayMap(d_pair -> {change}, arrayFilter(d_pair -> d_pair.2[1] != d_pair.2[2], "
        f"arrayMap(k -> (k, {sides}), {keys})))"
    )
    value = _template(lang, "detail.value", {"label": _label("kv.1", lang), "value": _show("kv.2")})
    values = (
        f"arrayMap(kv -> {value}, arrayFilter(kv -> NOT (d_paired AND kv.1 IN ('old', 'new')), "
        f"JSONExtractKeysAndValuesRaw({details})))"
    )
    body = (
        f"arrayStringConcat(arrayConcat(if(d_paired, {changes}, []), {values}), "
        f"{lit(DETAIL_SEPARATOR)})"
    )
    return _let("d_paired", paired, body)


def _line_item(currency: str, lang: str) -> str:
    """SQL of `render.line_item` over one item's raw JSON (`item`)."""
    raw = "JSONExtractRaw(item, 'quantity')"
    quantity = (
        f"multiIf(li_q IN ('', 'null'), {lit(MISSING)}, "
        "startsWith(li_q, '\"'), JSONExtractString(li_q), li_q)"
    )
    grouped = f"if(match(li_qt, {_INTEGER_RE}), {_integer('li_qt', lang)}, li_qt)"
    quantity_text = _let("li_q", raw, _let("li_qt", quantity, grouped))
    product_raw = "JSONExtractRaw(item, 'product_name')"
    product = _let(
        "li_p", product_raw, f"if(li_p IN ('', 'null'), {lit(MISSING)}, {_leaf('li_p')})"
    )
    text = _template(lang, "line_item", {"quantity": quantity_text, "product": product})
    priced = (
        f"if({currency} != '' AND match(li_price, {_DECIMAL_RE}), "
        f"{_amount('li_price', currency, lang)}, "
        f"if({currency} != '', concat(li_price, ' ', {currency}), li_price))"
    )
    extras = [
        _let("li_price", _string_at("item", "unit_price"), f"if(li_price != '', [{priced}], [])")
    ]
    for key in ("term", "billing_cycle"):
        value = _string_at("item", key)
        extras.append(
            _let("li_v", value, f"if(li_v != '', [{_lookup(lang, f'{key}.', 'li_v', 'li_v')}], [])")
        )
    joined = f"arrayConcat({', '.join(extras)})"
    with_extras = _template(
        lang,
        "line_item.extras",
        {"item": "li_text", "extras": "arrayStringConcat(li_extras, ', ')"},
    )
    body = _let(
        "li_extras", joined, _let("li_text", text, f"if(empty(li_extras), li_text, {with_extras})")
    )
    return f"if(NOT startsWith(item, '{{'), {_leaf('item')}, {body})"


def order_sql(lang: str, details: str = DETAILS) -> str:
    """An order's Additional information: its line items, CLDR numbers and amounts."""
    items = f"JSONExtractArrayRaw({details}, 'line_items')"
    line = _line_item("o_currency", lang)
    body = f"arrayStringConcat(arrayMap(item -> {line}, {items}), {lit(DETAIL_SEPARATOR)})"
    return _let("o_currency", _string_at(details, "currency"), body)


def additional_info_sql(lang: str, details: str = DETAILS) -> str:
    """The Additional information cell of either kind of row."""
    return f"if(kind = 'order', {order_sql(lang, details)}, {details_sql(lang, details)})"


def readable_sql(lang: str, details: str = DETAILS) -> dict[str, str]:
    """`{column: SQL}` of the three readable columns in `lang`, reading `details` as given."""
    return {
        "action_text": action_sql(lang),
        "status_text": status_sql(lang),
        "additional_info": additional_info_sql(lang, details),
    }
