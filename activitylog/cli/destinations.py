"""`activitylog destinations ...`: a partner's webhook destinations, and checking a signature.

While `activitylog serve` holds the store, the commands go through its HTTP
API (with ACTIVITYLOG_API_KEY); otherwise, or against a ClickHouse server, they
work on the store directly, as the operator. `--partner` names the partner when
the key (or the operator) is not scoped to one.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer

from activitylog.runtime import CLI_AUDIT_RETRY_SECONDS, export_audit
from common.errors import ApiUnavailable, ConfigError
from common.serve_info import read_serve_info
from common.settings import Settings
from query.client import HttpReader, os_user, raise_for_error
from query.destinations import Destinations
from schemas.destinations import signature_valid
from schemas.migrate import migrated_store

destinations_app = typer.Typer(
    help="Webhook destinations: add, list, remove, test, replay, verify a signature."
)

Partner = Annotated[
    str | None, typer.Option("--partner", help="The partner (needed without a scoped key).")
]


@destinations_app.command("add")
def destinations_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The HTTPS endpoint to deliver to.")],
    partner: Partner = None,
    actions: Annotated[str | None, typer.Option(help="Only these actions (a,b,c).")] = None,
    kinds: Annotated[str | None, typer.Option(help="Only these kinds (order,...).")] = None,
    customers: Annotated[str | None, typer.Option(help="Only these customer ids.")] = None,
    description: Annotated[str, typer.Option(help="A note for people.")] = "",
) -> None:
    """Register a destination and print its secret (shown only this once)."""
    body: dict[str, Any] = {"url": url, "description": description}
    for name, value in (("actions", actions), ("kinds", kinds), ("customers", customers)):
        if value:
            body[name] = value
    if partner:
        body["partner_id"] = partner
    created = _call(ctx.obj, "POST", "/api/v1/destinations", body)
    typer.echo(json.dumps(created, indent=2))
    typer.echo("keep the secret now: it is not shown again", err=True)


@destinations_app.command("list")
def destinations_list(ctx: typer.Context, partner: Partner = None) -> None:
    """The destinations, one JSON object a line."""
    found = _call(ctx.obj, "GET", "/api/v1/destinations", None, partner=partner)
    for destination in found["destinations"]:
        typer.echo(json.dumps(destination))


@destinations_app.command("remove")
def destinations_remove(
    ctx: typer.Context,
    destination_id: Annotated[str, typer.Argument(help="The destination's id (dst_...).")],
    partner: Partner = None,
) -> None:
    """Remove a destination: nothing more is delivered to it."""
    removed = _call(ctx.obj, "DELETE", f"/api/v1/destinations/{destination_id}", None, partner)
    typer.echo(f"removed {removed['id']} ({removed['url']})")


@destinations_app.command("replay")
def destinations_replay(
    ctx: typer.Context,
    destination_id: Annotated[str, typer.Argument(help="The destination's id (dst_...).")],
    partner: Partner = None,
) -> None:
    """Re-send what was parked on the destination's dead-letter topic, then resume it."""
    path = f"/api/v1/destinations/{destination_id}/replay"
    asked = _call(ctx.obj, "POST", path, None, partner)
    typer.echo(f"replay of {asked['id']} asked for: the delivery agent re-sends, then resumes")


@destinations_app.command("test")
def destinations_test(
    ctx: typer.Context,
    destination_id: Annotated[str, typer.Argument(help="The destination's id (dst_...).")],
    partner: Partner = None,
) -> None:
    """Send one signed request with no activity; exit 1 unless the endpoint answers 2xx."""
    path = f"/api/v1/destinations/{destination_id}/test"
    answer = _call(ctx.obj, "POST", path, None, partner)
    typer.echo(json.dumps(answer))
    if not answer["ok"]:
        raise typer.Exit(1)


@destinations_app.command("verify-signature")
def destinations_verify_signature(
    body: Annotated[typer.FileBinaryRead, typer.Argument(help="The request body (- for stdin).")],
    secret: Annotated[str, typer.Option(help="The destination's secret (whsec_...).")],
    timestamp: Annotated[str, typer.Option(help="The X-Activitylog-Timestamp header.")],
    signature: Annotated[str, typer.Option(help="The X-Activitylog-Signature header.")],
    max_age: Annotated[int, typer.Option(help="Refuse a timestamp older than this (s).")] = 300,
) -> None:
    """Check a received request's signature, as a receiver would; exit 1 when it fails."""
    if not timestamp.isdigit():
        raise ConfigError("--timestamp", "must be Unix seconds")
    age = abs(time.time() - int(timestamp))
    if not signature_valid(secret, timestamp, body.read(), signature):
        typer.echo("invalid: the signature does not match this body, timestamp and secret")
        raise typer.Exit(1)
    if age > max_age:
        typer.echo(f"invalid: the timestamp is {age:.0f} s away from now (over {max_age} s)")
        raise typer.Exit(1)
    typer.echo("valid")


def _call(
    settings: Settings,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    partner: str | None = None,
) -> dict[str, Any]:
    """The route's answer, from the running server or from this process on the store."""
    info = read_serve_info(settings)
    if info is not None:
        reader = HttpReader(info.api_url, settings.api_key)
        try:
            response = reader.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"cannot reach the server at {info.api_url}: {exc}") from exc
        finally:
            reader.close()
        if response.status_code >= 400:
            raise_for_error(response)
        answer: dict[str, Any] = response.json()
        return answer
    store = migrated_store(settings)
    audit = export_audit(settings, source="activitylog-cli", retry_seconds=CLI_AUDIT_RETRY_SECONDS)
    try:
        found = Destinations(store, settings, now=lambda: datetime.now(UTC), audit=audit)
        if method == "POST" and path.endswith("/test"):
            return found.test(partner, path.rsplit("/", 2)[-2])
        if method == "POST" and path.endswith("/replay"):
            return found.replay(partner, path.rsplit("/", 2)[-2]).public()
        if method == "POST":
            return found.create(None, body or {}, "os:" + os_user()).body()
        if method == "GET":
            return {"destinations": [d.public() for d in found.list(partner)]}
        return found.remove(partner, path.rsplit("/", 1)[-1], "os:" + os_user()).public()
    finally:
        audit.close(CLI_AUDIT_RETRY_SECONDS)
        store.close()
