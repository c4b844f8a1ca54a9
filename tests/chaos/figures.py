"""Figure tables for the reliability runs, printed and written into docs/reliability.md.

Each run owns one section of that file, between two HTML comment markers,
and replaces only its own section: the chaos and soak figures live side by
side and each command refreshes its part.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos.scenario import ChaosResult

RELIABILITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"

_HEADER = """# Reliability figures

Measured by the reliability suite on real components (a Kafka 4.x broker started by
`activitylog.devstack.kafka.KafkaStack`, `activitylog serve` with embedded chDB). Each section
is rewritten by the command named in it; the machine and its load are stated there.
"""


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return (
        f"median {statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f})"
    )


def chaos_rows(result: ChaosResult) -> list[tuple[str, str]]:
    """(what, figure) pairs, in the order a reader checks them."""
    config = result.config
    kills = [f for f in result.faults if f.kind == "kill_worker"]
    brokers = [f for f in result.faults if f.kind == "restart_broker"]
    outages = [f for f in result.faults if f.kind == "store_outage"]
    during = sum(1 for f in result.faults if f.during_stream)
    rows = [
        (
            "events published (acknowledged by Kafka, by event id)",
            f"{result.delivered:,} of {result.sent:,} sent, {result.failed} failed "
            f"({result.stream_s:.0f} s at {config.rate:g}/s)",
        ),
        (
            "faults injected",
            f"{len(kills)} x kill -9 of the worker, {len(brokers)} broker restart, "
            f"{len(outages)} store outage of {config.store_outage_s:g} s "
            f"({during} of {len(result.faults)} while the stream ran; seed {config.seed})",
        ),
        ("kill -9 -> API answering again", _spread([f.figures["api_back_s"] for f in kills])),
        ("kill -9 -> worker storing again", _spread([f.figures["resumed_s"] for f in kills])),
    ]
    for fault in brokers:
        rows.append(
            (
                "broker restart (SIGTERM, start) -> answering / worker storing",
                f"{fault.figures['broker_down_s']:.1f} s / {fault.figures['resumed_s']:.1f} s "
                "after that",
            )
        )
    if result.store_outage_skipped:
        rows.append(("store outage", f"skipped: {result.store_outage_skipped}"))
    for fault in outages:
        rows.append(
            (
                "store unavailable (chDB tmpfs full) -> inserting again after space freed",
                f"{fault.figures['held_s']:.1f} s down, {fault.figures['failed_inserts']:.0f} "
                f"insert attempts failed and retried, "
                f"{fault.figures['stored_while_full']:.0f} batches stored meanwhile; "
                f"{fault.figures['recovered_s']:.1f} s",
            )
        )
    rows += [
        (
            "catch-up: every acknowledged event stored and committed (lag 0)",
            f"{result.catch_up_s:.1f} s after the last acknowledgement",
        ),
        (
            "stored unique events seen through the API == published unique",
            f"{result.visible_unique:,} == {result.delivered:,}",
        ),
        (
            "rows inserted, all worker runs (replayed batches included) / duplicates visible "
            "through the API",
            f"{result.rows_inserted:,} ({result.rows_inserted - result.delivered:,} inserted "
            f"twice) / {result.duplicates_visible}",
        ),
        (
            "store after stop: stream's ids stored; count() FINAL / uniqExact(event_id) / raw",
            f"{result.store_stream_unique:,}; {result.store_final:,} / {result.store_unique:,} "
            f"/ {result.store_raw:,} (raw - unique = {result.store_raw - result.store_unique:,} "
            "re-inserted rows not merged yet, hidden by FINAL)",
        ),
        (
            "rows lost (acknowledged, not readable): API / store",
            f"{result.rows_lost} / {result.store_rows_lost}",
        ),
        ("rows not from the stream", f"{result.unexpected_rows}"),
        (
            "committed offsets == end offsets; serve exit on SIGTERM",
            f"{result.offsets_committed}; {result.serve_exit_code}",
        ),
        ("wall time", f"{result.total_s:.0f} s"),
    ]
    return rows


def markdown_table(rows: Sequence[tuple[str, str]]) -> str:
    lines = ["| what | figure |", "|---|---|"]
    lines += [f"| {what} | {figure} |" for what, figure in rows]
    return "\n".join(lines)


def text_table(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(what) for what, _ in rows)
    return "\n".join(f"{what:<{width}}  {figure}" for what, figure in rows)


def write_section(name: str, body: str, path: Path = RELIABILITY_DOC) -> Path:
    """Replace (or append) the `name` section of docs/reliability.md with `body`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def report_run(
    rows: Sequence[tuple[str, str]],
    problems: Sequence[str],
    command: str,
    *,
    ok: str,
    section: str,
    title: str,
    write_docs: bool,
) -> int:
    """Print a run's figures and verdict, write them to docs/reliability.md; the exit code."""
    print()
    print(text_table(rows))
    print()
    print("FAILED:\n  " + "\n  ".join(problems) if problems else ok)
    print(f"reproduce: {command}")
    if write_docs:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = (
            f"## {title}\n\n"
            f"Last run {when}, `{command}`, on a 2-core machine shared with other jobs"
            f"{' (FAILED: ' + '; '.join(problems) + ')' if problems else ''}.\n\n"
            + markdown_table(rows)
        )
        print(f"figures written to {write_section(section, body)}")
    return 1 if problems else 0
