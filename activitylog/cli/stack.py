"""`activitylog stack up|down|status`: the local single-node Kafka for development."""

from __future__ import annotations

from typing import Annotated

import typer

from activitylog.devstack.kafka import KafkaStack

stack_app = typer.Typer(help="A local single-node Apache Kafka (KRaft) for development.")


@stack_app.command("up")
def stack_up(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker")] = 120.0,
) -> None:
    """Start the local broker (fetching its jars once) and create the topics."""
    status = KafkaStack(ctx.obj).up(timeout=timeout)
    typer.echo(f"Kafka is up on {status.bootstrap} (pid {status.pid}, log {status.log_file})")


@stack_app.command("down")
def stack_down(ctx: typer.Context) -> None:
    """Stop the local broker."""
    stopped = KafkaStack(ctx.obj).down()
    typer.echo("Kafka stopped" if stopped else "Kafka was not running")


@stack_app.command("status")
def stack_status(ctx: typer.Context) -> None:
    """Say whether the local broker runs and answers; exit 1 if not."""
    status = KafkaStack(ctx.obj).status()
    if status.running and status.answering:
        typer.echo(f"running on {status.bootstrap} (pid {status.pid})")
        return
    typer.echo("running but not answering" if status.running else "not running")
    raise typer.Exit(1)
