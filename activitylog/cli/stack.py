"""`activitylog stack up|down|status`: the local Kafka for development, one node or a cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from activitylog.devstack.cluster import KafkaCluster
from activitylog.devstack.kafka import KafkaStack

stack_app = typer.Typer(help="A local Apache Kafka (KRaft) for development: one node or a cluster.")


@stack_app.command("up")
def stack_up(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker")] = 120.0,
    brokers: Annotated[
        int,
        typer.Option(
            min=1, help="Nodes: 1 is a single broker, more a cluster (replication 3, min ISR 2)"
        ),
    ] = 1,
) -> None:
    """Start the local broker or cluster (fetching its jars once) and create the topics."""
    if brokers == 1:
        status = KafkaStack(ctx.obj).up(timeout=timeout)
        typer.echo(f"Kafka is up on {status.bootstrap} (pid {status.pid}, log {status.log_file})")
        return
    cluster = KafkaCluster.prepare(ctx.obj, brokers)
    for node in cluster.up(timeout=timeout):
        typer.echo(f"  node on {node.bootstrap} (pid {node.pid}, log {node.log_file})")
    typer.echo(
        f"Kafka cluster of {brokers} is up on {cluster.bootstrap} (topics: replication "
        f"{cluster.replication}, min.insync.replicas {cluster.min_insync}); "
        f"export ACTIVITYLOG_KAFKA_BOOTSTRAP={cluster.bootstrap}"
    )


@stack_app.command("down")
def stack_down(ctx: typer.Context) -> None:
    """Stop the local broker and the local cluster's nodes."""
    single = KafkaStack(ctx.obj).down()
    cluster = KafkaCluster.existing(ctx.obj)
    cluster_stopped = cluster is not None and cluster.down()
    if single:
        typer.echo("Kafka stopped")
    if cluster is not None and cluster_stopped:
        typer.echo(f"Kafka cluster stopped ({cluster.bootstrap})")
    if not (single or cluster_stopped):
        typer.echo("Kafka was not running")


@stack_app.command("status")
def stack_status(ctx: typer.Context) -> None:
    """Say whether the local broker (or each cluster node) runs and answers; exit 1 if not."""
    cluster = KafkaCluster.existing(ctx.obj)
    if cluster is not None and cluster.running():
        statuses = cluster.status()
        for node_id, status in enumerate(statuses, start=1):
            state = (
                "not running"
                if not status.running
                else "running"
                if status.answering
                else "running but not answering"
            )
            typer.echo(f"node {node_id} on {status.bootstrap}: {state} (pid {status.pid})")
        if not all(s.running and s.answering for s in statuses):
            raise typer.Exit(1)
        return
    status = KafkaStack(ctx.obj).status()
    if status.running and status.answering:
        typer.echo(f"running on {status.bootstrap} (pid {status.pid})")
        return
    typer.echo("running but not answering" if status.running else "not running")
    raise typer.Exit(1)
