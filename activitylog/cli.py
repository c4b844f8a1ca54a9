"""The `activitylog` console script: wires the packages' commands together.

Every expected failure is a typed error that ends as one line on stderr and
a non-zero exit; a traceback only with ACTIVITYLOG_LOG_LEVEL=debug.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any, cast

import click
import typer

from activitylog.errors import ActivityLogError
from activitylog.settings import Settings

app = typer.Typer(
    name="activitylog",
    help="Partner activity log: Kafka -> Faust -> ClickHouse, with query, export and a web page.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stack_app = typer.Typer(help="A local single-node Apache Kafka (KRaft) for development.")
topics_app = typer.Typer(help="Create or describe the v1 topics.")
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")


@app.callback()
def _root(ctx: typer.Context) -> None:
    settings = Settings.from_env()
    _configure_logging(settings.log_level)
    ctx.obj = settings


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    root = logging.getLogger().level
    # Faust and aiokafka are chatty at INFO; their warnings still show.
    for name in ("faust", "aiokafka", "mode", "httpx"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root))
    # kafka-python and the HTTP client log every refused connection while they
    # retry; our own typed error names the broker or store once, so their logs
    # are for debugging only.
    for name in ("kafka", "urllib3", "urllib3.connectionpool", "clickhouse_connect"):
        logging.getLogger(name).setLevel(root if root <= logging.DEBUG else logging.CRITICAL)


@stack_app.command("up")
def stack_up(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker")] = 120.0,
) -> None:
    """Start the local broker (fetching its jars once) and create the topics."""
    from activitylog.kafka_stack import KafkaStack

    status = KafkaStack(ctx.obj).up(timeout=timeout)
    typer.echo(f"Kafka is up on {status.bootstrap} (pid {status.pid}, log {status.log_file})")


@stack_app.command("down")
def stack_down(ctx: typer.Context) -> None:
    """Stop the local broker."""
    from activitylog.kafka_stack import KafkaStack

    stopped = KafkaStack(ctx.obj).down()
    typer.echo("Kafka stopped" if stopped else "Kafka was not running")


@stack_app.command("status")
def stack_status(ctx: typer.Context) -> None:
    """Say whether the local broker runs and answers; exit 1 if not."""
    from activitylog.kafka_stack import KafkaStack

    status = KafkaStack(ctx.obj).status()
    if status.running and status.answering:
        typer.echo(f"running on {status.bootstrap} (pid {status.pid})")
        return
    typer.echo("running but not answering" if status.running else "not running")
    raise typer.Exit(1)


@topics_app.command("create")
def topics_create(ctx: typer.Context) -> None:
    """Create the v1 topics that are missing (idempotent)."""
    from producers.topics import ensure_topics
    from schemas.topics import ALL_TOPICS

    settings: Settings = ctx.obj
    created = ensure_topics(
        settings.kafka_bootstrap, ALL_TOPICS, settings.topic_partitions, settings.topic_replication
    )
    typer.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@topics_app.command("describe")
def topics_describe(ctx: typer.Context) -> None:
    """Show partitions and replication of the v1 topics."""
    from producers.topics import describe_topics
    from schemas.topics import ALL_TOPICS

    settings: Settings = ctx.obj
    missing = 0
    for info in describe_topics(settings.kafka_bootstrap, ALL_TOPICS):
        if not info.exists:
            missing += 1
            typer.echo(f"{info.name}: missing (`activitylog topics create` creates it)")
            continue
        typer.echo(
            f"{info.name}: {info.partitions} partitions, replication {info.replication}, "
            f"{info.records} records"
        )
    if missing:
        raise typer.Exit(1)


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply pending ClickHouse migrations and the retention TTL (idempotent)."""
    from activitylog.store import Store

    settings: Settings = ctx.obj
    store = Store.from_settings(settings)
    try:
        typer.echo(f"{store.location.describe()}: schema up to date")
    finally:
        store.close()


@app.command()
def serve(ctx: typer.Context) -> None:
    """Worker + API + web page in one process (embedded mode)."""
    _run_loop(ctx.obj, worker=True, api=True)


@app.command()
def worker(ctx: typer.Context) -> None:
    """The Faust worker alone (server mode: several share the topics' partitions)."""
    _run_loop(ctx.obj, worker=True, api=False)


@app.command()
def api(ctx: typer.Context) -> None:
    """The HTTP API and web page alone (server mode)."""
    _run_loop(ctx.obj, worker=False, api=True)


def _run_loop(settings: Settings, *, worker: bool, api: bool) -> None:
    """Run `serve`/`worker`/`api` on uvloop when it is installed (`runtime.run_event_loop`)."""
    from activitylog.runtime import run_event_loop

    run_event_loop(_run(settings, worker=worker, api=api))


async def _run(settings: Settings, *, worker: bool, api: bool) -> None:
    from activitylog.runtime import run

    await run(settings, worker=worker, api=api)


@app.command()
def demo(ctx: typer.Context) -> None:
    """The whole path end to end: Kafka, serve, a sample month, a CSV export."""
    from activitylog.demo import run_demo

    run_demo(ctx.obj)


def _register() -> None:
    from producers.cli import produce, simulate
    from query.cli import export, query
    from query.verify_cli import verify

    app.command()(produce)
    app.command()(simulate)
    app.command()(query)
    app.command()(export)
    app.command()(verify)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command, turning typed errors into one line and an exit code."""
    command = typer.main.get_command(app)
    try:
        # Without standalone mode click returns a typer.Exit's code instead of exiting.
        result = command.main(args=argv, prog_name="activitylog", standalone_mode=False)
    except ActivityLogError as exc:
        logging.getLogger(__name__).debug("failed", exc_info=True)
        typer.echo(f"error: {exc.message}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if _is_usage_error(exc):  # typer's own copy of click's errors (typer >= 0.20)
            cast(Any, exc).show()
            return int(cast(Any, exc).exit_code)
        logging.getLogger(__name__).debug("unexpected failure", exc_info=True)
        typer.echo(
            f"error: unexpected {type(exc).__name__}: {exc} "
            "(run with ACTIVITYLOG_LOG_LEVEL=debug for details)",
            err=True,
        )
        return 70
    return result if isinstance(result, int) else 0


def _is_usage_error(exc: Exception) -> bool:
    """A click-style error (bad option, missing argument) that knows how to show itself.

    typer vendors click since 0.20 and raises its own `ClickException`, not
    click's; both carry `show()` and an `exit_code`, which is all we use.
    """
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)


def console() -> None:
    """The console script: `sys.exit` with `main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    console()
