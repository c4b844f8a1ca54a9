"""A read of one key, within the caller's partner: a record, a customer, a manifest."""

from __future__ import annotations

from typing import Any, Final

# A read that finds keys with an IN subquery on a table sharded like activity
# (a record through activity_by_event, a lifecycle through its correlation id)
# runs it on each shard against the shard's own table: on a cluster both sides
# are Distributed, which ClickHouse otherwise refuses, and the shard's own rows
# are all the subquery can need, since a partner's rows and the rows derived
# from them live on that partner's shard (schemas/ddl.py). No effect on one server.
SHARD_LOCAL_IN: Final = "distributed_product_mode = 'local'"


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
