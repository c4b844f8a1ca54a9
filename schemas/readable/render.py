"""A row's readable Action, Status and Additional information, in one language.

Pure: the input is the stored codes and structured fields of a row
(`kind`, `action`, `status`, `resource_type`, `resource_id`,
`resource_name`, `order_id` and the `details` JSON text), so a row stored
before any catalog change reads correctly in every language. The rules
(docs/contracts.md, Readable columns):

* Action: the action's phrase (`action.<code>`, or `action.other` for a code
  no catalog knows), then `: <resource_name>` when there is one. An order's
  action is `order.<order_status>` and its resource name its products.
* Status: a partner action's outcome (`outcome.<code>`), then
  `(<resource type> <resource_id>)` when there is an id; an order's
  `Order <order_id>: <order status>`.
* Additional information: an order's line items, each
  `<quantity> × <product> (<unit price>, <term>, <billing cycle>)` with CLDR
  numbers and amounts; a partner action's details, each changed field of an
  `old`/`new` pair as `<field>: <old> → <new>` and every other key as
  `<field>: <value>`, joined with `; `. Field names come from `field.<key>`,
  a key without one shows as itself. A value reads as its text (a string),
  its JSON (a number, true, false, null), one level of an object as
  `{key: value, ...}` and of a list as `[value, ...]`, deeper levels as JSON.

`schemas/readable/sql.py` writes the same rules in SQL for the CSV
export; `tests/integration/test_readable_sql.py` proves both agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from schemas.activity import KIND_ORDER
from schemas.json_text import json_text, parse_json
from schemas.readable.catalogs import message
from schemas.readable.numbers import DECIMAL_TEXT, INTEGER_TEXT, format_amount, format_integer

# The stored columns the readable texts are made from.
READABLE_SOURCES: Final[tuple[str, ...]] = (
    "kind",
    "action",
    "status",
    "resource_type",
    "resource_id",
    "resource_name",
    "order_id",
    "details",
)
# The readable columns, in the order the contract lists them.
READABLE_COLUMNS: Final[tuple[str, ...]] = ("action_text", "status_text", "additional_info")
DETAIL_SEPARATOR: Final = "; "
# A missing quantity or product of a line item (a row older than a rule, hand-written data).
MISSING: Final = "?"
_WORD_SPLIT: Final = re.compile(r"[._]+")


@dataclass(frozen=True, slots=True)
class Readable:
    action_text: str
    status_text: str
    additional_info: str

    def as_dict(self) -> dict[str, str]:
        return {
            "action_text": self.action_text,
            "status_text": self.status_text,
            "additional_info": self.additional_info,
        }


def words(code: str) -> str:
    """`invoice.paid_late` -> `Invoice paid late`: an unknown code, readable in any language."""
    text = " ".join(part for part in _WORD_SPLIT.split(code) if part)
    return text[:1].upper() + text[1:]


def fill(lang: str, key: str, **fields: str) -> str:
    """The message `key` of `lang` with its `{name}` placeholders filled."""
    template = message(lang, key)
    if template is None:
        raise LookupError(f"the {lang} catalog has no message {key!r}")
    return template.format_map(fields)


def coded(lang: str, prefix: str, code: str) -> str:
    """The text of `<prefix>.<code>`, or `<prefix>.other` filled with the code and its words."""
    text = message(lang, f"{prefix}.{code}")
    if text is not None:
        return text
    return fill(lang, f"{prefix}.other", code=code, words=words(code))


def render(row: Mapping[str, Any], lang: str) -> Readable:
    """The three readable texts of a stored row (`READABLE_SOURCES`) in `lang`."""
    return render_parsed(row, parse_json(row["details"]), lang)


def render_parsed(row: Mapping[str, Any], details: Any, lang: str) -> Readable:
    """`render` for a caller that holds the details already parsed (the normalizer)."""
    action = coded(lang, "action", row["action"])
    if row["resource_name"]:
        action = fill(lang, "action.with_name", action=action, name=row["resource_name"])
    if row["kind"] == KIND_ORDER:
        status = fill(
            lang,
            "order.status",
            order_id=row["order_id"],
            status=coded(lang, "order_status", row["status"]),
        )
        return Readable(action, status, order_info(details, lang))
    status = coded(lang, "outcome", row["status"])
    if row["resource_id"]:
        kind = row["resource_type"]
        label = message(lang, f"resource.{kind}" if kind else "resource.none") or kind
        status = fill(
            lang, "status.with_resource", status=status, type=label, id=row["resource_id"]
        )
    return Readable(action, status, details_info(details, lang))


def label(key: str, lang: str) -> str:
    return message(lang, f"field.{key}") or key


def show(value: Any, nested: bool = False) -> str:
    """A details value as text: strings as is, one level of structure spelled out."""
    if isinstance(value, str):
        return value
    if not nested and isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v, True)}" for k, v in value.items()) + "}"
    if not nested and isinstance(value, list):
        return "[" + ", ".join(show(v, True) for v in value) + "]"
    return json_text(value)


def details_info(details: Any, lang: str) -> str:
    """A partner action's details as Additional information (the module's rules)."""
    if not isinstance(details, Mapping) or not details:
        return ""
    parts: list[str] = []
    old, new = details.get("old"), details.get("new")
    paired = isinstance(old, Mapping) and isinstance(new, Mapping)
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in dict.fromkeys([*old, *new]):
            before, after = old.get(key), new.get(key)
            # Compared as stored JSON text: the SQL compares the same texts.
            if json_text(before) != json_text(after):
                parts.append(
                    fill(
                        lang,
                        "detail.change",
                        label=label(key, lang),
                        old=show(before),
                        new=show(after),
                    )
                )
    for key, value in details.items():
        if paired and key in ("old", "new"):
            continue
        parts.append(fill(lang, "detail.value", label=label(key, lang), value=show(value)))
    return DETAIL_SEPARATOR.join(parts)


def order_info(details: Any, lang: str) -> str:
    """An order's line items as Additional information, CLDR numbers and amounts."""
    if not isinstance(details, Mapping):
        return ""
    items = details.get("line_items")
    if not isinstance(items, list):
        return ""
    currency = details.get("currency")
    currency = currency if isinstance(currency, str) else ""
    return DETAIL_SEPARATOR.join(line_item(item, currency, lang) for item in items)


def line_item(item: Any, currency: str, lang: str) -> str:
    if not isinstance(item, Mapping):
        return show(item, True)
    quantity = item.get("quantity")
    if isinstance(quantity, str):
        quantity_text = quantity
    else:
        quantity_text = json_text(quantity) if quantity is not None else MISSING
    if INTEGER_TEXT.fullmatch(quantity_text):
        quantity_text = format_integer(quantity_text, lang)
    product = item.get("product_name")
    text = fill(
        lang,
        "line_item",
        quantity=quantity_text,
        product=show(product, True) if product is not None else MISSING,
    )
    extras = []
    price = item.get("unit_price")
    if isinstance(price, str) and price:
        if currency and DECIMAL_TEXT.fullmatch(price):
            extras.append(format_amount(price, currency, lang))
        else:
            extras.append(f"{price} {currency}" if currency else price)
    for key in ("term", "billing_cycle"):
        value = item.get(key)
        if isinstance(value, str) and value:
            extras.append(message(lang, f"{key}.{value}") or value)
    if not extras:
        return text
    return fill(lang, "line_item.extras", item=text, extras=", ".join(extras))
