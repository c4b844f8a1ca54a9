"""Export history (`GET /api/v1/exports`): the caller's sealed exports, newest first.

Read from the manifests ledger (every export that finished has exactly one
manifest) and joined with the export jobs for what the ledger does not
know: whether the file is still retained for download, and whether a
schedule started the job. A direct download leaves no file on the server,
so it is never downloadable again. Keyset pages on (created_at, export_id),
so a page stays stable while new exports are sealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from common.settings import ALL_PARTNERS
from common.store import Store
from common.timefmt import iso_utc
from query.jobs.model import DONE, Job, JobTable
from query.manifests.model import schedule_of
from query.reads.pages import decode_cursor, encode_cursor
from schemas.tables import MANIFESTS_TABLE

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 50
KEY_MARK: Final = "key:"
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

DIRECT: Final = "direct"
JOB: Final = "job"
SCHEDULED: Final = "scheduled"


@dataclass(frozen=True)
class HistoryPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def key_of(created_by: str) -> str | None:
    """The key label in a `created_by` (`[USER via ]key:LABEL`), or None."""
    tail = created_by.rsplit(" via ", 1)[-1]
    return tail[len(KEY_MARK) :] if tail.startswith(KEY_MARK) else None


def list_exports(
    store: Store,
    partner_id: str | None,
    now: datetime,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> HistoryPage:
    """One page of `partner_id`'s sealed exports (None: every partner's), newest first."""
    # One constant statement: an empty `p` is every partner, `c` 0 the first page.
    params: dict[str, Any] = {"n": limit + 1, "p": partner_id or "", "c": 0, "at": EPOCH, "id": ""}
    if cursor is not None:
        at, export_id = decode_cursor(cursor)
        params |= {"c": 1, "at": at, "id": export_id}
    rows = store.query_rows(
        f"SELECT export_id, seq, created_at, manifest FROM {MANIFESTS_TABLE} FINAL "  # noqa: S608
        "WHERE ({p:String} = '' OR partner_id = {p:String}) AND ({c:UInt8} = 0 OR "
        "(created_at, export_id) < ({at:DateTime64(3, 'UTC')}, {id:String})) "
        "ORDER BY created_at DESC, export_id DESC LIMIT {n:UInt32}",
        params,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    jobs = JobTable(store).latest_of([str(row[0]) for row in rows])
    items = [
        _item(int(seq), orjson.loads(text), jobs.get(str(eid)), now) for eid, seq, _, text in rows
    ]
    next_cursor = None
    if more and rows:
        last_at = rows[-1][2]
        if isinstance(last_at, datetime) and last_at.tzinfo is None:
            last_at = last_at.replace(tzinfo=UTC)
        next_cursor = encode_cursor(last_at, str(rows[-1][0]))
    return HistoryPage(items, next_cursor)


def _item(seq: int, manifest: dict[str, Any], job: Job | None, now: datetime) -> dict[str, Any]:
    export_id = str(manifest["export_id"])
    created_by = str(manifest.get("created_by") or "")
    schedule_id = schedule_of(created_by)
    kind = DIRECT if job is None else SCHEDULED if schedule_id else JOB
    retained = job is not None and job.effective_state(now) == DONE
    base = f"/api/v1/exports/{export_id}"
    return {
        "id": export_id,
        "created_at": manifest.get("created_at"),
        "created_by": created_by,
        "key": key_of(created_by),
        "kind": kind,
        "schedule_id": schedule_id,
        "partner_id": manifest.get("partner_id") or ALL_PARTNERS,
        "from": manifest.get("from"),
        "to": manifest.get("to"),
        "tz": manifest.get("tz"),
        "filters": manifest.get("filters") or {},
        "format": manifest.get("format"),
        "lang": manifest.get("lang"),
        "rows": manifest.get("rows"),
        "sha256": manifest.get("sha256"),
        "signed": "signature" in manifest,
        "chain_seq": seq,
        "previous": manifest.get("previous"),
        "downloadable": retained,
        "download_url": f"{base}/download" if retained else None,
        "manifest_url": f"{base}/manifest",
        "expires_at": iso_utc(job.expires_at)
        if retained and job is not None and job.expires_at is not None
        else None,
    }


def page_body(page: HistoryPage) -> dict[str, Any]:
    return {"items": page.items, "next_cursor": page.next_cursor}
