"""`activitylog exports list`: the export history, newest first (docs/contracts.md).

Through the running server's API when `serve` holds the store (the key's
partner, as `GET /api/v1/exports` answers it), else from the store itself
(every partner: whoever holds the store reads all of it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer

from common.serve_info import read_serve_info
from common.settings import Settings
from query.client import HttpReader
from query.manifests.history import MAX_LIMIT, list_exports, page_body
from schemas.migrate import migrated_store

exports_app = typer.Typer(help="The history of exports.", no_args_is_help=True)


def history_page(settings: Settings, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of history, from the running server or else the store."""
    info = read_serve_info(settings)
    if info is not None:
        reader = HttpReader(info.api_url, settings.api_key)
        try:
            params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
            page: dict[str, Any] = reader.call("GET", "/api/v1/exports", params)
            return page
        finally:
            reader.close()
    store = migrated_store(settings)
    try:
        from_store = list_exports(store, None, datetime.now(UTC), limit=limit, cursor=cursor)
        return page_body(from_store)
    finally:
        store.close()


@exports_app.command("list")
def exports_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="exports per page")] = 20,
    cursor: Annotated[str | None, typer.Option(help="the next_cursor of a previous page")] = None,
    json: Annotated[bool, typer.Option("--json", help="the API's JSON page")] = False,
) -> None:
    """List past exports, newest first: when, who, range, format, rows, file kept."""
    settings: Settings = ctx.obj
    page = history_page(settings, limit, cursor)
    if json:
        typer.echo(orjson.dumps(page).decode())
        return
    for item in page["items"]:
        kept = "download" if item["downloadable"] else "-"
        typer.echo(
            f"{item['id']}  {item['created_at']}  {item['kind']:<9}  {item['key'] or '-':<14}  "
            f"{item['format']:<7}  {item['rows']:>9} rows  {item['from']} .. {item['to']} "
            f"({item['tz']})  {kept}"
        )
    if not page["items"]:
        typer.echo("no exports yet")
    if page["next_cursor"]:
        typer.echo(f"more: --cursor {page['next_cursor']}")
