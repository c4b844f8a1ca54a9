"""One activity record as the API shows it, and the reading of its stored JSON text.

A record's details read with FINAL, so a redelivered event is one record
(docs/contracts.md, Guarantees). The event id is not in activity's sort key:
the record is read from `activity_records`, every column of activity sorted by
the event id in small granules, in one query (docs/architecture.md, Access paths).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from common.store import Store
from common.timefmt import iso_utc
from query.reads.columns import DETAIL_COLUMNS, select_list
from query.reads.scope import key_within_partner
from schemas.readable.render import READABLE_SOURCES, render
from schemas.tables import RECORDS_TABLE


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
    # Why PREWHERE: ClickHouse does not move a WHERE to PREWHERE under FINAL, and
    # the other columns would then be read from the granule the event id could be
    # in, in every part. The condition is on key columns only (the event id and
    # the caller's partner), so an event's copies are kept or dropped together
    # and FINAL still picks among them as activity FINAL does.
    sql = (
        f"SELECT {select_list(DETAIL_COLUMNS)} FROM {RECORDS_TABLE} FINAL "  # noqa: S608
        f"PREWHERE {where} LIMIT 1"
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
