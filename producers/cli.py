"""CLI commands of the producing side: `produce` (and, with it, `simulate` and `topics`)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from activitylog.errors import DeliveryFailed, InvalidEvent
from activitylog.settings import Settings
from producers.jsonl import iter_lines, open_jsonl
from producers.publisher import complete_event
from producers.simulate import topic_for_event


def produce(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSONL file (plain or gzip), or - for stdin")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; send nothing")] = False,
) -> None:
    """Publish events from a JSONL file: valid lines are sent, bad lines reported by number."""
    settings: Settings = ctx.obj
    from schemas.events import validate_event

    stream = open_jsonl(file)
    publisher: Any = None
    if not dry_run:
        from activitylog.errors import BrokerUnavailable
        from producers.publisher import ActivityPublisher
        from producers.topics import broker_answers

        if not broker_answers(settings.kafka_bootstrap, timeout=10):
            raise BrokerUnavailable(
                f"cannot reach Kafka at {settings.kafka_bootstrap}; is the broker running "
                "(`activitylog stack up`) or ACTIVITYLOG_KAFKA_BOOTSTRAP set?"
            )
        publisher = ActivityPublisher(settings.kafka_bootstrap)
    valid = rejected = 0
    try:
        for number, line in iter_lines(stream):
            try:
                event = orjson.loads(line)
                if not isinstance(event, dict):
                    raise InvalidEvent("", "line is not a JSON object")
                topic = topic_for_event(event)
                if publisher is None:
                    validate_event(topic, complete_event(event))
                else:
                    publisher.publish(topic, event)
                valid += 1
            except orjson.JSONDecodeError as exc:
                rejected += 1
                typer.echo(f"line {number}: not valid JSON: {exc}", err=True)
            except InvalidEvent as exc:
                rejected += 1
                typer.echo(f"line {number}: {exc.message}", err=True)
    finally:
        report = publisher.close() if publisher is not None else None
    if report is None:
        typer.echo(f"{valid} valid, {rejected} rejected (dry run: nothing sent)")
    else:
        typer.echo(
            f"{report.delivered} sent, {rejected} rejected"
            + (f", {report.failed} failed" if report.failed else "")
            + (f", {report.pending} unconfirmed" if report.pending else "")
        )
        if report.failed or report.pending:
            raise DeliveryFailed(
                f"{report.failed + report.pending} events were not acknowledged by Kafka; "
                f"first error: {(report.errors or ['timeout'])[0]}"
            )
    if rejected:
        raise typer.Exit(1)
