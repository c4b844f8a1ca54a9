"""`activitylog migrate|serve|worker|api|demo`: the long-running processes and the demo."""

from __future__ import annotations

from typing import Annotated

import typer

from activitylog import runtime
from activitylog.demo import run_demo
from common.settings import Settings
from schemas.migrate import migrated_store
from schemas.rerender import rerender


def migrate(
    ctx: typer.Context,
    skip_texts: Annotated[
        bool,
        typer.Option(
            "--skip-texts",
            help="Leave stale stored texts for a later `activitylog migrate` (exports render "
            "them meanwhile): a start-up job that must not wait for a long re-render.",
        ),
    ] = False,
) -> None:
    """Apply pending ClickHouse migrations and the retention TTL, and re-render stale stored
    texts (idempotent; progress is logged while it runs)."""
    settings: Settings = ctx.obj
    store = migrated_store(settings)
    try:
        typer.echo(f"{store.location.describe()}: schema up to date")
        if skip_texts:
            return
        done = rerender(store, cluster=settings.clickhouse_cluster)
        texts = ", ".join(f"{lang} {rows} rows re-rendered" for lang, rows in done.items())
        typer.echo(f"stored texts current ({texts})")
    finally:
        store.close()


def serve(ctx: typer.Context) -> None:
    """Worker + delivery agent + API + web page in one process (embedded mode)."""
    _run_loop(ctx.obj, worker=True, api=True, delivery=True)


def worker(ctx: typer.Context) -> None:
    """The Faust worker alone (server mode: several share the topics' partitions)."""
    _run_loop(ctx.obj, worker=True, api=False)


def api(ctx: typer.Context) -> None:
    """The HTTP API and web page alone (server mode)."""
    _run_loop(ctx.obj, worker=False, api=True)


def deliver(ctx: typer.Context) -> None:
    """The webhook delivery agent alone (server mode: several share the topics' partitions)."""
    _run_loop(ctx.obj, worker=False, api=False, delivery=True)


def _run_loop(settings: Settings, *, worker: bool, api: bool, delivery: bool = False) -> None:
    """Run `serve`/`worker`/`api`/`deliver` on uvloop when installed (`runtime.run_event_loop`)."""
    runtime.run_event_loop(runtime.run(settings, worker=worker, api=api, delivery=delivery))


def demo(ctx: typer.Context) -> None:
    """The whole path end to end: Kafka, serve, a sample month, a CSV export."""
    run_demo(ctx.obj)
