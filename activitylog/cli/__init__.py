"""The `activitylog` console script: wires the packages' commands together.

Every expected failure is a typed error that ends as one line on stderr and
a non-zero exit; a traceback only with ACTIVITYLOG_LOG_LEVEL=debug.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, cast

import click
import typer

from activitylog.cli.destinations import destinations_app
from activitylog.cli.exports import exports_app
from activitylog.cli.produce import produce, simulate
from activitylog.cli.query import export, query
from activitylog.cli.schedules import schedules_app
from activitylog.cli.serve import api, deliver, demo, migrate, serve, worker
from activitylog.cli.stack import stack_app
from activitylog.cli.topics import topics_app
from activitylog.cli.verify import verify
from common.errors import ActivityLogError
from common.settings import Settings

app = typer.Typer(
    name="activitylog",
    help="Partner activity log: Kafka -> Faust -> ClickHouse, with query, export and a web page.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(exports_app, name="exports")
app.add_typer(schedules_app, name="schedules")
app.add_typer(destinations_app, name="destinations")
for command in (
    migrate,
    serve,
    worker,
    api,
    deliver,
    demo,
    produce,
    simulate,
    query,
    export,
    verify,
):
    app.command()(command)


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
