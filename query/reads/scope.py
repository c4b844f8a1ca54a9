"""A read of one key, within the caller's partner: a record, a customer, a manifest."""

from __future__ import annotations

from typing import Any


def key_within_partner(
    column: str, value: str, partner_id: str | None
) -> tuple[str, dict[str, Any]]:
    """WHERE clause and parameters for `column = value` in `partner_id`'s rows (None = all).

    `column` is one of our identifiers, and also names its parameter.
    """
    where = f"{column} = {{{column}:String}}"
    params: dict[str, Any] = {column: value}
    if partner_id is not None:
        where += " AND partner_id = {partner_id:String}"
        params["partner_id"] = partner_id
    return where, params
