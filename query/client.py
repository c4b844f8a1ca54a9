"""Reaching the store the right way from the CLI.

In embedded mode only one process may open the data directory (docs/contracts.md, Storage modes):
while `activitylog serve` runs, `query` and `export` go through its HTTP
API; otherwise (or against a ClickHouse server) they open the store directly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from common.errors import ActivityLogError, ApiUnavailable, BadQuery, Unauthorized
from common.settings import Settings
from common.store import Store
from query.exports.formats import check_export, export_bytes
from query.filters import FILTER_FIELDS, ActivityFilter
from query.headers import EXPORT_ID_HEADER, ROWS_HEADER, USER_HEADER
from query.manifests.audit import ExportAudit
from query.manifests.ledger import ExportLedger
from query.manifests.model import export_request_info, new_export_id
from query.ranges import TimeRange, resolve_range
from query.reads.pages import Page, list_activity
from query.reads.slices import count_activity

# A direct CLI export publishes its `export.create` before exiting: how long closing may
# wait in all (then the record is logged lost).
CLI_AUDIT_CLOSE_SECONDS = 5.0
MANIFEST_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Request:
    """What the CLI asks for, in the API's own parameter names.

    `filters` holds the optional filters by their `FILTER_FIELDS` names
    (None or empty: not asked for).
    """

    from_: str | None = None
    to: str | None = None
    tz: str | None = None
    filters: Mapping[str, str | None] = field(default_factory=dict)
    partner_id: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.filters) - set(FILTER_FIELDS))
        if unknown:
            raise TypeError(f"unknown filters {unknown} (known: {', '.join(FILTER_FIELDS)})")

    def params(self) -> dict[str, str]:
        bounds = {"from": self.from_, "to": self.to, "tz": self.tz}
        chosen = {name: self.filters.get(name) for name in FILTER_FIELDS}
        return {name: value for name, value in (bounds | chosen).items() if value is not None}

    def time_range(self) -> TimeRange:
        return resolve_range(self.from_, self.to, self.tz, datetime.now(UTC))

    def filter(self) -> ActivityFilter:
        return ActivityFilter.from_params(self.time_range(), self.partner_id, self.filters)


@dataclass
class Download:
    """An export under way: its row count when known, and its bytes."""

    rows: int | None
    chunks: Iterator[bytes]
    export_id: str | None = None
    # The sealed manifest, once every chunk has been read (None: the export has none).
    manifest: Callable[[], dict[str, Any] | None] = field(default=lambda: None)
    # Record the export as failed when the caller gives up on it (e.g. its disk is full).
    abort: Callable[[str], None] = field(default=lambda reason: None)

    def __iter__(self) -> Iterator[bytes]:
        """Iterating a download iterates its bytes (what callers did before it had a count)."""
        return self.chunks


class Reader(Protocol):
    def page(self, req: Request, limit: int, cursor: str | None, lang: str = "en") -> Page: ...
    def export(self, req: Request, fmt: str, lang: str) -> Download: ...
    def close(self) -> None: ...


class StoreReader:
    """Reads straight from the store (no serve running, or server mode)."""

    def __init__(self, store: Store, settings: Settings, *, audit: ExportAudit | None) -> None:
        self.store = store
        self.settings = settings
        self._audit = audit  # closed with the reader: its records leave before the process

    def page(self, req: Request, limit: int, cursor: str | None, lang: str = "en") -> Page:
        return list_activity(self.store, req.filter(), limit=limit, cursor=cursor, lang=lang)

    def export(self, req: Request, fmt: str, lang: str) -> Download:
        """The export, sealed by this process's own ledger (chained to the server's)."""
        check_export(fmt, lang)
        flt = req.filter()
        rows = count_activity(self.store, flt)
        info = export_request_info(flt, fmt, lang, "os:" + os_user())
        ledger = self.ledger()
        run = ledger.start(new_export_id(), info)

        def abort(reason: str) -> None:
            run.abort(reason)

        return Download(
            rows,
            run.stream(export_bytes(self.store, flt, fmt, lang)),
            export_id=run.export_id,
            manifest=lambda: run.manifest,
            abort=abort,
        )

    def close(self) -> None:
        if self._audit is not None:
            # Bounded: a CLI export never waits long on Kafka (a lost record is logged).
            self._audit.close(timeout=CLI_AUDIT_CLOSE_SECONDS)
        self.store.close()

    def ledger(self) -> ExportLedger:
        """A ledger sealing this process's exports, each audited as `export.create`."""
        return ExportLedger(self.store, self.settings, observer=self._audit)


class HttpReader:
    """Reads through a running server's HTTP API."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        headers[USER_HEADER] = os_user()  # the manifest's `created_by` names who ran the CLI
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=60.0)

    def page(self, req: Request, limit: int, cursor: str | None, lang: str = "en") -> Page:
        params: dict[str, Any] = req.params() | {"limit": limit, "lang": lang}
        if cursor:
            params["cursor"] = cursor
        response = self._get("/api/v1/activity", params)
        body = response.json()
        return Page(items=body["items"], next_cursor=body["next_cursor"])

    def export(self, req: Request, fmt: str, lang: str) -> Download:
        params = req.params() | {"format": fmt, "lang": lang}
        request = self.http.build_request("GET", "/api/v1/activity/export", params=params)
        try:
            response = self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"cannot reach the server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            raise_for_error(response)
        rows = response.headers.get(ROWS_HEADER)
        export_id = response.headers.get(EXPORT_ID_HEADER)
        return Download(
            int(rows) if rows and rows.isdigit() else None,
            self._body(response),
            export_id=export_id,
            manifest=lambda: self.manifest(export_id) if export_id else None,
        )

    def manifest(self, export_id: str) -> dict[str, Any]:
        """The server's manifest of a finished download (sealed as its last byte went out).

        Retried briefly on 404: the server seals right after the last chunk,
        which a fast client can read before the seal is stored.
        """
        deadline = time.monotonic() + MANIFEST_WAIT_SECONDS
        path = f"/api/v1/exports/{export_id}/manifest"
        while True:
            try:
                response = self.http.get(path)
            except httpx.HTTPError as exc:
                raise ApiUnavailable(f"cannot reach the server at {self.base_url}: {exc}") from exc
            if response.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if response.status_code >= 400:
            raise_for_error(response)
        found: dict[str, Any] = response.json()
        return found

    def _body(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"the server at {self.base_url} failed: {exc}") from exc
        finally:
            response.close()

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """One JSON call to the API (history, schedules); a 4xx becomes its typed error."""
        try:
            response = self.http.request(method, path, params=params, json=body)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"cannot reach the server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise_for_error(response)
        return response.json()

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        try:
            response = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"cannot reach the server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise_for_error(response)
        return response

    def close(self) -> None:
        self.http.close()


def raise_for_error(response: httpx.Response) -> None:
    """Raise the typed error an API error response names (its JSON `error` body)."""
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", f"HTTP {response.status_code}"
    if code == "bad_request":
        param, _, reason = message.partition(": ")
        raise BadQuery(param, reason or message)
    if code == "unauthorized":
        raise Unauthorized(f"{message} (set ACTIVITYLOG_API_KEY for the CLI)")
    raise ActivityLogError(message)


def os_user() -> str:
    """`user@host` of this process, from the OS's own records (not the environment)."""
    import pwd
    import socket

    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        name = f"uid{uid}"
    return f"{name}@{socket.gethostname()}"
