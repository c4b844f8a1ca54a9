"""`activitylog topics create|describe`: the v1 topics on the configured broker."""

from __future__ import annotations

import typer

from common.settings import Settings
from producers.topics import describe_topics, ensure_topics
from schemas.topics import ALL_TOPICS

topics_app = typer.Typer(help="Create or describe the v1 topics.")


@topics_app.command("create")
def topics_create(ctx: typer.Context) -> None:
    """Create the v1 topics that are missing (idempotent)."""
    settings: Settings = ctx.obj
    created = ensure_topics(
        settings.kafka_bootstrap,
        ALL_TOPICS,
        settings.topic_partitions,
        settings.topic_replication,
        min_insync=settings.topic_min_insync_replicas,
    )
    typer.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@topics_app.command("describe")
def topics_describe(ctx: typer.Context) -> None:
    """Show partitions and replication of the v1 topics."""
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
