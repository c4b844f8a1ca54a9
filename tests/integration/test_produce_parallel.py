"""`activitylog produce --workers N`: several publishing processes, one outcome.

Against the session broker, as a real child process: every valid line comes
back byte-for-byte exactly once, each key's events keep their file order
(one key, one worker), every bad line is named by its line number in the
file whichever worker read it, and the counts add up across the workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from common.errors import ConfigError
from producers.parallel import owner_of, publish_file
from schemas.topics import topic_for_event
from tests.fixtures.events import valid_order, valid_partner_action
from tests.fixtures.kafka import Record, read_back

CLI = "import sys; from activitylog.cli import main; sys.exit(main(sys.argv[1:]))"
EVENTS = 600
WORKERS = 3


def _file(partner: str) -> tuple[bytes, list[Record], dict[int, str]]:
    """JSONL content, the records Kafka must hold in file order, and the bad lines by number."""
    lines: list[bytes] = []
    expected: list[Record] = []
    bad: dict[int, str] = {}
    for i in range(EVENTS):
        if len(lines) + 1 == 5:
            lines.append(b'{"not json"')
            bad[5] = "not valid JSON"
        if len(lines) + 1 == 250:
            lines.append(orjson.dumps(valid_partner_action(partner_id=partner, customer_id="")))
            bad[250] = "customer_id"
        if len(lines) + 1 == 400:
            event = valid_order(partner_id=partner, customer_id="cust-3", order_status="lost")
            lines.append(orjson.dumps(event))
            bad[400] = "order_status"
        common = {"partner_id": partner, "customer_id": f"cust-{i % 30}"}
        if i % 4 == 0:
            event = valid_order(**common, order_id=f"ord-{partner}-{i}")
        else:
            event = valid_partner_action(**common, resource_id=f"res-{i}")
        line = orjson.dumps(event)
        lines.append(line)
        expected.append((topic_for_event(event), str(event["customer_id"]).encode(), line))
    return b"\n".join(lines) + b"\n", expected, bad


def _by_key(records: list[Record]) -> dict[tuple[str, bytes | None], list[bytes]]:
    grouped: dict[tuple[str, bytes | None], list[bytes]] = defaultdict(list)
    for topic, key, value in records:
        grouped[(topic, key)].append(value)
    return grouped


def test_sharded_produce_keeps_every_line_once_in_key_order_and_names_bad_lines(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:10]}"
    content, expected, bad = _file(partner)
    path = tmp_path / "events.jsonl"
    path.write_bytes(content)
    # The file's keys really are spread over every worker.
    owners = {owner_of({"customer_id": key.decode()}, WORKERS) for _, key, _ in expected if key}
    assert owners == set(range(WORKERS))

    result = subprocess.run(
        [sys.executable, "-c", CLI, "produce", str(path), "--workers", str(WORKERS)],
        env={**os.environ, "ACTIVITYLOG_KAFKA_BOOTSTRAP": kafka_bootstrap},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    for number, field in bad.items():
        assert f"line {number}: {field}" in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == len(bad), result.stderr
    assert f"{EVENTS} sent, {len(bad)} rejected" in result.stdout
    records = read_back(kafka_bootstrap, partner, EVENTS)
    assert sorted(records) == sorted(expected)  # byte-for-byte, each exactly once
    # Kafka returns one partition in offset order: a key's events in file order.
    assert _by_key(records) == _by_key(expected)


def test_sharded_publish_merges_counts_and_reports(kafka_bootstrap: str, tmp_path: Path) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:10]}"
    content, _expected, bad = _file(partner)
    path = tmp_path / "events.jsonl"
    path.write_bytes(content)
    rejected: list[int] = []
    seen: list[int] = []

    outcome = publish_file(
        str(path),
        kafka_bootstrap,
        2,
        on_rejected=lambda number, _exc: rejected.append(number),
        progress=seen.append,
    )

    assert outcome.workers == 2
    assert sorted(rejected) == sorted(bad)
    assert (outcome.result.accepted, outcome.result.rejected) == (EVENTS, len(bad))
    assert (outcome.report.sent, outcome.report.delivered) == (EVENTS, EVENTS)
    assert outcome.report.ok
    assert seen[-1] == EVENTS + len(bad)  # every line read, by every worker
    assert len(read_back(kafka_bootstrap, partner, EVENTS)) == EVENTS


def test_sharded_publish_names_a_missing_file_before_forking(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        publish_file(str(tmp_path / "nope.jsonl"), "127.0.0.1:1", 2)
