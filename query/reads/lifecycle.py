"""What the expanded row adds to one record: its lifecycle and its before/after changes.

* Lifecycle: the events of the same partner that share the record's
  `correlation_id` (an order placed, then completed or failed; an action
  `in_progress`, then resolved), oldest first, each with its time and
  status. Bounded, parameterized queries: the partner and a time window
  around the record, at most `MAX_STEPS` steps; the keys of the steps first,
  one key range of `activity_by_correlation`, so the read does not grow with
  the partner's rows in the window; then, unless the record is the only step,
  the steps read by those keys from `activity_records`.
* Changes: a `details` value with `old` and `new` objects becomes the list
  of fields that changed, nested objects flattened to their paths, added and
  removed keys marked, unchanged fields left out (`diff_changes`, pure).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from common.store import Store
from common.timefmt import iso_utc
from query.reads.scope import SHARD_LOCAL_IN
from schemas.readable.render import READABLE_SOURCES, render
from schemas.tables import BY_CORRELATION_TABLE, RECORDS_TABLE

MAX_STEPS: Final = 50
# A lifecycle is looked for this long before and after the record: orders and
# actions resolve in hours or days; an event further away is not a step of this one.
LIFECYCLE_WINDOW: Final = timedelta(days=31)
MAX_CHANGES: Final = 200
# activity's sort key: the key of an event in every access path.
_KEY: Final = "(partner_id, occurred_at, event_id)"
MAX_DEPTH: Final = 8

STEP_COLUMNS: Final = (
    "event_id",
    "occurred_at",
    "kind",
    "action",
    "action_text",
    "status",
    "status_text",
    "partner_user",
    "order_id",
)
# What a step's readable texts are rendered from, read beside `STEP_COLUMNS`.
_STEP_READ: Final = tuple(dict.fromkeys((*STEP_COLUMNS, *READABLE_SOURCES)))

_MISSING: Final = object()


def diff_changes(details: Any) -> list[dict[str, Any]] | None:
    """The fields that differ between `details.old` and `details.new`; None when there is no pair.

    Each change is `{"field": "a.b", "path": ["a", "b"], "change": "changed" | "added" |
    "removed", "old": ..., "new": ...}` (`old` left out for an added field, `new`
    for a removed one). Objects are compared key by key down to `MAX_DEPTH`;
    lists and other values as a whole. At most `MAX_CHANGES` changes, in the
    order the keys appear (old's first, then keys only new has).
    """
    if not isinstance(details, Mapping):
        return None
    old, new = details.get("old"), details.get("new")
    if not isinstance(old, Mapping) and not isinstance(new, Mapping):
        return None
    if not (isinstance(old, Mapping) or old is None) or not (
        isinstance(new, Mapping) or new is None
    ):
        return None  # one side is not an object: nothing to compare field by field
    changes: list[dict[str, Any]] = []
    _walk(old or {}, new or {}, [], changes)
    return changes


def _walk(
    old: Mapping[str, Any], new: Mapping[str, Any], path: list[str], out: list[dict[str, Any]]
) -> None:
    for key in dict.fromkeys([*old, *new]):
        if len(out) >= MAX_CHANGES:
            return
        before = old.get(key, _MISSING)
        after = new.get(key, _MISSING)
        here = [*path, str(key)]
        if isinstance(before, Mapping) and isinstance(after, Mapping) and len(here) < MAX_DEPTH:
            _walk(before, after, here, out)
            continue
        if before is _MISSING:
            out.append(_change(here, "added", new=after))
        elif after is _MISSING:
            out.append(_change(here, "removed", old=before))
        elif not _same(before, after):
            out.append(_change(here, "changed", old=before, new=after))


def _same(a: Any, b: Any) -> bool:
    # JSON sees `1` and `true` as different values; Python's == does not.
    return type(a) is type(b) and a == b


def _change(path: list[str], kind: str, old: Any = _MISSING, new: Any = _MISSING) -> dict[str, Any]:
    change: dict[str, Any] = {"field": ".".join(path), "path": path, "change": kind}
    if old is not _MISSING:
        change["old"] = old
    if new is not _MISSING:
        change["new"] = new
    return change


def lifecycle(store: Store, item: Mapping[str, Any], lang: str = "en") -> dict[str, Any] | None:
    """The record's lifecycle (`correlation_id`, `steps` oldest first, `truncated`), or None.

    Only the record's own partner is read, so the steps are rows its reader
    may already see; the record itself is one of the steps (`current`).
    """
    correlation_id = item.get("correlation_id")
    occurred_at = item.get("occurred_at")
    if not correlation_id or not isinstance(occurred_at, str):
        return None
    at = datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
    # Keys first, from activity_by_correlation: the partner's events with this
    # correlation id are one key range there. When the only one is the record's,
    # the record is the lifecycle. Otherwise FINAL reads just those keys
    # (a PREWHERE on key columns only, so an event's copies stay or go together)
    # and applies the correlation id to the copy it keeps. The steps' columns
    # come from activity_records, activity's rows in small granules: a step
    # costs one of its granules, not one of activity's 8,192 wide rows.
    window = (
        "partner_id = {partner_id:String} "
        "AND occurred_at >= {start:DateTime64(3, 'UTC')} "
        "AND occurred_at < {end:DateTime64(3, 'UTC')}"
    )
    params = {
        "partner_id": item["partner_id"],
        "start": at - LIFECYCLE_WINDOW,
        "end": at + LIFECYCLE_WINDOW,
        "correlation_id": correlation_id,
    }
    keys = f"{BY_CORRELATION_TABLE} WHERE {window} AND correlation_id = {{correlation_id:String}}"
    current = str(item.get("event_id"))
    found = store.query_rows(f"SELECT DISTINCT event_id, occurred_at FROM {keys} LIMIT 2", params)  # noqa: S608
    if [(str(e), iso_utc(t)) for e, t in found] == [(current, occurred_at)]:
        # The record is its own lifecycle, and it is the copy FINAL keeps: no second read.
        row = {name: item[name] for name in STEP_COLUMNS}
        return lifecycle_steps(str(correlation_id), [row], current, lang)
    sql = (
        f"SELECT {', '.join(_STEP_READ)} FROM {RECORDS_TABLE} FINAL "  # noqa: S608
        f"PREWHERE {_KEY} IN (SELECT {_KEY} FROM {keys}) AND {window} "
        "WHERE correlation_id = {correlation_id:String} "
        f"ORDER BY occurred_at, event_id LIMIT {MAX_STEPS + 1} SETTINGS {SHARD_LOCAL_IN}"
    )
    rows = store.query_dicts(sql, params)
    return lifecycle_steps(str(correlation_id), rows, current, lang)


def lifecycle_steps(
    correlation_id: str, rows: list[dict[str, Any]], current: str, lang: str = "en"
) -> dict[str, Any]:
    """Rows (oldest first, up to `MAX_STEPS` + 1) as the API's `lifecycle` value.

    A row holding the readable sources gets its texts rendered in `lang`.
    """
    steps = []
    for row in rows[:MAX_STEPS]:
        if all(name in row for name in READABLE_SOURCES):
            row = row | render(row, lang).as_dict()
        step = {name: row[name] for name in STEP_COLUMNS}
        if isinstance(step["occurred_at"], datetime):
            step["occurred_at"] = iso_utc(step["occurred_at"])
        step["current"] = row["event_id"] == current
        steps.append(step)
    return {
        "correlation_id": correlation_id,
        "steps": steps,
        "truncated": len(rows) > MAX_STEPS,
    }
