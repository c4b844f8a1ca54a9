"""Reaching the store the right way from the CLI.

In embedded mode only one process may open the data directory (design §2):
while `activitylog serve` runs, `query` and `export` go through its HTTP
API; otherwise (or against a ClickHouse server) they open the store directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from activitylog.errors import ActivityLogError, BadQuery, StoreUnavailable, Unauthorized
from activitylog.settings import Settings
from activitylog.store import Store
from query.exports import check_export, export_bytes
from query.ranges import TimeRange, resolve_range
from query.reads import ActivityFilter, Page, count_activity, list_activity

# The API tells a client how many rows an export holds (for its progress bar).
ROWS_HEADER = "X-Activity-Rows"


@dataclass(frozen=True)
class Request:
    """What the CLI asks for, in the API's own parameter names."""

    from_: str | None = None
    to: str | None = None
    tz: str | None = None
    customer_id: str | None = None
    customer: str | None = None
    action: str | None = None
    partner_user: str | None = None
    status: str | None = None
    q: str | None = None
    partner_id: str | None = None

    def params(self) -> dict[str, str]:
        names = {"from_": "from"}
        out = {names.get(k, k): v for k, v in self.__dict__.items() if v is not None}
        out.pop("partner_id", None)
        return out

    def time_range(self) -> TimeRange:
        return resolve_range(self.from_, self.to, self.tz, datetime.now(UTC))

    def filter(self) -> ActivityFilter:
        return ActivityFilter(
            range=self.time_range(),
            partner_id=self.partner_id,
            customer_id=self.customer_id,
            customer=self.customer,
            action=self.action,
            partner_user=self.partner_user,
            status=self.status,
            q=self.q,
        )


@dataclass
class Download:
    """An export under way: its row count when known, and its bytes."""

    rows: int | None
    chunks: Iterator[bytes]

    def __iter__(self) -> Iterator[bytes]:
        """Iterating a download iterates its bytes (what callers did before it had a count)."""
        return self.chunks


class Reader(Protocol):
    def page(self, req: Request, limit: int, cursor: str | None) -> Page: ...
    def export(self, req: Request, fmt: str, lang: str) -> Download: ...
    def close(self) -> None: ...


class StoreReader:
    """Reads straight from the store (no serve running, or server mode)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def page(self, req: Request, limit: int, cursor: str | None) -> Page:
        return list_activity(self.store, req.filter(), limit=limit, cursor=cursor)

    def export(self, req: Request, fmt: str, lang: str) -> Download:
        check_export(fmt, lang)
        flt = req.filter()
        return Download(count_activity(self.store, flt), export_bytes(self.store, flt, fmt, lang))

    def close(self) -> None:
        self.store.close()


class HttpReader:
    """Reads through a running server's HTTP API."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=60.0)

    def page(self, req: Request, limit: int, cursor: str | None) -> Page:
        params: dict[str, Any] = req.params() | {"limit": limit}
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
            raise StoreUnavailable(f"cannot reach the server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            _raise_for(response)
        rows = response.headers.get(ROWS_HEADER)
        return Download(int(rows) if rows and rows.isdigit() else None, self._body(response))

    def _body(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"the server at {self.base_url} failed: {exc}") from exc
        finally:
            response.close()

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        try:
            response = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"cannot reach the server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            _raise_for(response)
        return response

    def close(self) -> None:
        self.http.close()


def _raise_for(response: httpx.Response) -> None:
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


def open_reader(settings: Settings) -> Reader:
    """The HTTP API of a running `serve` that holds the store, else the store itself."""
    from activitylog.runtime import read_serve_info

    info = read_serve_info(settings)
    if info is not None:
        return HttpReader(info.api_url, settings.api_key)
    return StoreReader(Store.from_settings(settings))
