"""One activity record as the API shows it, and the reading of its stored JSON text.

A record's details read with FINAL, so a redelivered event is one record
(docs/contracts.md, Guarantees). The event id is not in activity's sort key:
`activity_by_event` (sorted by it) gives the record's full key first, and the
row is read from activity by that key (docs/architecture.md, Access paths).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from common.store import Store
from common.timefmt import iso_utc
from query.reads.columns import DETAIL_COLUMNS, select_list
from query.reads.scope import SHARD_LOCAL_IN, key_within_partner
from schemas.activity import ACTIVITY_TABLE
from schemas.readable.render import READABLE_SOURCES, render
from schemas.tables import BY_EVENT_TABLE

# activity's sort key, which activity_by_event holds for each event id.
_ACTIVITY_KEY = "(partner_id, occurred_at, event_id)"


def json_or_text(text: str) -> Any:
    """Stored JSON text (`details`, `payload`) as its value, or `text` itself when not JSON.

    The normalizer writes JSON, but a row must still read if it holds
    anything else; the very `text` object comes back then, so a caller can
    tell the two apart by identity.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def get_activity(
    store: Store, event_id: str, partner_id: str | None, lang: str = "en"
) -> dict[str, Any] | None:
    """One record with its full details; None if absent or another partner's."""
    where, params = key_within_partner("event_id", event_id, partner_id)
    # The lookup is scoped to the caller's partner too: a partner key never
    # learns another partner's key, and the outer WHERE repeats the scope.
    sql = (
        f"SELECT {select_list(DETAIL_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL "  # noqa: S608
        f"WHERE {_ACTIVITY_KEY} IN (SELECT {_ACTIVITY_KEY} FROM {BY_EVENT_TABLE} "
        f"WHERE {where}) AND {where} LIMIT 1 SETTINGS {SHARD_LOCAL_IN}"
    )
    rows = store.query_dicts(sql, params)
    if not rows:
        return None
    item = present(rows[0], lang)
    item["payload"] = json_or_text(rows[0]["payload"])
    return item


def present(row: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """A stored row as the API shows it: texts in `lang`, UTC ISO timestamps, details as JSON.

    The readable texts are rendered from the row's codes and details, so a
    row stored before a catalog change reads in every language; machine
    fields (codes, ids, timestamps) are the same in every language.
    """
    item = dict(row)
    if all(name in item for name in READABLE_SOURCES):
        item.update(render(item, lang).as_dict())
    for key in ("occurred_at", "ingested_at"):
        if isinstance(item.get(key), datetime):
            item[key] = iso_utc(item[key])
    if "details" in item:
        item["details"] = json_or_text(item["details"]) if item["details"] else None
    if "customer_id" in item:
        # A partner-level action (e.g. `export.create`) has no customer, so no
        # Subscriptions page: `scope` says which kind of row this is.
        customer_id = item["customer_id"]
        item["scope"] = "customer" if customer_id else "partner"
        item["subscriptions_url"] = (
            f"/customers/{quote(customer_id, safe='')}/subscriptions" if customer_id else None
        )
    return item
