"""`activitylog schedules add|list|remove`: scheduled exports (docs/contracts.md).

Through the running server's API when `serve` holds the store (the key's
partner), else on the store itself as an operator (every partner unless
`--partner` names one); the runs start in whichever `serve` or `api` runs
the export jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer

from common.errors import BadQuery, NotFound
from common.serve_info import read_serve_info
from common.settings import Settings
from query.client import HttpReader, os_user
from query.jobs.schedules import (
    ACTIVE,
    ScheduleTable,
    is_schedule_id,
    new_schedule,
    parse_rule,
    schedule_body,
)
from schemas.migrate import migrated_store

schedules_app = typer.Typer(help="Scheduled exports.", no_args_is_help=True)


def _rule_body(
    every: str,
    day: str | None,
    at: str,
    tz: str,
    fmt: str,
    lang: str,
    filters: list[str],
    name: str | None,
) -> dict[str, Any]:
    given: dict[str, str] = {}
    for item in filters:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise BadQuery("--filter", f"{item!r} is not NAME=VALUE (e.g. action=order)")
        given[field.strip()] = value
    body: dict[str, Any] = {"every": every, "at": at, "tz": tz, "format": fmt, "lang": lang}
    if day is not None:
        body["day"] = int(day) if day.isdigit() else day
    if given:
        body["filters"] = given
    if name:
        body["name"] = name
    return body


def _call(settings: Settings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    info = read_serve_info(settings)
    if info is None:
        return None
    reader = HttpReader(info.api_url, settings.api_key)
    try:
        return reader.call(method, path, body=body)
    finally:
        reader.close()


@schedules_app.command("add")
def schedules_add(
    ctx: typer.Context,
    every: Annotated[str, typer.Option(help="month | week | day")],
    at: Annotated[str, typer.Option(help="local time HH:MM")],
    day: Annotated[str | None, typer.Option(help="month: 1..28; week: monday..sunday")] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone")] = "UTC",
    fmt: Annotated[str, typer.Option("--format", help="the export's format")] = "csv",
    lang: Annotated[str, typer.Option(help="CSV header language")] = "en",
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="NAME=VALUE, e.g. action=order")
    ] = None,
    name: Annotated[str | None, typer.Option(help="a label for people")] = None,
    partner: Annotated[
        str | None, typer.Option(help="without a running server: the partner (default all)")
    ] = None,
) -> None:
    """Export the previous month, week or day every period, at a local time."""
    settings: Settings = ctx.obj
    body = _rule_body(every, day, at, tz, fmt, lang, filters or [], name)
    shown = _call(settings, "POST", "/api/v1/schedules", body)
    if shown is None:
        now = datetime.now(UTC)
        rule = parse_rule(body, now)
        store = migrated_store(settings)
        try:
            made = ScheduleTable(store).save(new_schedule(partner, "os:" + os_user(), rule, now))
        finally:
            store.close()
        shown = schedule_body(made, now)
    typer.echo(f"{shown['id']}: {shown['description']}; next run {shown['next_run_at']}")


@schedules_app.command("list")
def schedules_list(
    ctx: typer.Context,
    json: Annotated[bool, typer.Option("--json", help="the API's JSON")] = False,
) -> None:
    """The active schedules, each with its next run."""
    settings: Settings = ctx.obj
    page = _call(settings, "GET", "/api/v1/schedules")
    if page is None:
        now = datetime.now(UTC)
        store = migrated_store(settings)
        try:
            page = {"items": [schedule_body(s, now) for s in ScheduleTable(store).in_state(ACTIVE)]}
        finally:
            store.close()
    if json:
        typer.echo(orjson.dumps(page).decode())
        return
    for item in page["items"]:
        rule = item["rule"]
        typer.echo(
            f"{item['id']}  {item['description']}  {rule['format']}  "
            f"filters {orjson.dumps(rule['filters']).decode()}  next {item['next_run_at']}"
        )
    if not page["items"]:
        typer.echo("no schedules")


@schedules_app.command("remove")
def schedules_remove(ctx: typer.Context, schedule_id: str) -> None:
    """Stop a schedule (its past exports stay in the history)."""
    settings: Settings = ctx.obj
    shown = _call(settings, "DELETE", f"/api/v1/schedules/{schedule_id}")
    if shown is None:
        store = migrated_store(settings)
        try:
            table = ScheduleTable(store)
            found = table.get(schedule_id) if is_schedule_id(schedule_id) else None
            if found is None:
                raise NotFound(f"no schedule {schedule_id!r}")
            table.delete(found, datetime.now(UTC))
        finally:
            store.close()
    typer.echo(f"removed {schedule_id}")
