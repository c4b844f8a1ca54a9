"""CLI commands of the reading side: `query` (a table in the terminal) and `export`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from activitylog.errors import BadQuery, ConfigError
from activitylog.settings import Settings
from query.client import Request, open_reader

FORMATS = ("csv", "jsonl")

FromOpt = Annotated[
    str | None, typer.Option("--from", help="First day (YYYY-MM-DD, inclusive) or RFC 3339 instant")
]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day (inclusive) or RFC 3339 instant")]
TzOpt = Annotated[str | None, typer.Option("--tz", help="Time zone of the dates (default UTC)")]
CustomerIdOpt = Annotated[str | None, typer.Option("--customer-id", help="Exact customer id")]
CustomerOpt = Annotated[
    str | None, typer.Option("--customer", help="Company name contains (any case)")
]
ActionOpt = Annotated[
    str | None, typer.Option("--action", help="Action, e.g. subscription.suspend, or a prefix")
]
UserOpt = Annotated[str | None, typer.Option("--partner-user", help="Partner user (exact)")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="Outcome or order status")]
TextOpt = Annotated[str | None, typer.Option("-q", "--text", help="Free-text search")]


def query(
    ctx: typer.Context,
    from_: FromOpt = None,
    to: ToOpt = None,
    tz: TzOpt = None,
    customer_id: CustomerIdOpt = None,
    customer: CustomerOpt = None,
    action: ActionOpt = None,
    partner_user: UserOpt = None,
    status: StatusOpt = None,
    text: TextOpt = None,
    limit: Annotated[int, typer.Option(help="Rows to show (1-1000)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Show activity for a date range, newest first (default: the most recent month)."""
    settings: Settings = ctx.obj
    req = Request(from_, to, tz, customer_id, customer, action, partner_user, status, text)
    req.time_range()  # bad dates fail here, before any connection is opened
    if not 1 <= limit <= 1000:
        raise BadQuery("--limit", "must be between 1 and 1000")
    reader = open_reader(settings)
    try:
        page = reader.page(req, limit, None)
    finally:
        reader.close()
    if as_json:
        for item in page.items:
            sys.stdout.write(orjson.dumps(item).decode() + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False, expand=True)
    for title in ("Date (UTC)", "Affected customer", "Action", "Partner user", "Status"):
        table.add_column(title, overflow="fold")
    for item in page.items:
        table.add_row(
            str(item["occurred_at"]).replace("T", " ").removesuffix("Z"),
            item["customer_name"],
            item["action_text"],
            item["partner_user"],
            item["status_text"],
        )
    console = Console()
    console.print(table)
    more = " (more: narrow the range or raise --limit)" if page.next_cursor else ""
    console.print(f"{len(page.items)} rows{more}")


def export(
    ctx: typer.Context,
    from_: FromOpt = None,
    to: ToOpt = None,
    tz: TzOpt = None,
    customer_id: CustomerIdOpt = None,
    customer: CustomerOpt = None,
    action: ActionOpt = None,
    partner_user: UserOpt = None,
    status: StatusOpt = None,
    text: TextOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    lang: Annotated[str, typer.Option(help="CSV header language: en or fr")] = "en",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="File to write (default exports/activity-FROM_TO.EXT)"),
    ] = None,
) -> None:
    """Export activity for a date range to CSV (Excel-ready) or JSONL."""
    settings: Settings = ctx.obj
    if fmt not in FORMATS:
        raise BadQuery("--format", f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    if lang not in ("en", "fr"):
        raise BadQuery("--lang", f"unknown language {lang!r} (use en or fr)")
    req = Request(from_, to, tz, customer_id, customer, action, partner_user, status, text)
    first, last = req.time_range().label()
    path = output or Path("exports") / f"activity-{first}_{last}.{fmt}"
    written = export_to_file(settings, req, fmt, lang, path)
    typer.echo(f"wrote {path} ({written} bytes)")


def export_to_file(settings: Settings, req: Request, fmt: str, lang: str, path: Path) -> int:
    """Stream an export into `path` atomically (a temp file renamed on success)."""
    if path.is_dir():
        raise ConfigError("--output", f"{path} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    reader = open_reader(settings)
    written = 0
    try:
        with tmp.open("wb") as out:
            for chunk in reader.export(req, fmt, lang):
                out.write(chunk)
                written += len(chunk)
        tmp.replace(path)
    finally:
        reader.close()
        tmp.unlink(missing_ok=True)
    return written
