"""`activitylog produce FILE` as a real child process against the session broker.

Every valid line of the JSONL file (plain or gzip) must come back from Kafka
byte-for-byte with its customer id as key and the topic its shape names; a
bad line is reported by its (physical) line number and field, and the exit
code is 1.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from activitylog.devstack.kafka import KafkaStack
from common.net import free_port
from common.settings import Settings
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC, topic_for_event
from tests.fixtures.events import OMIT, valid_order, valid_partner_action
from tests.fixtures.kafka import Record, read_back

CLI = "import sys; from activitylog.cli import main; sys.exit(main(sys.argv[1:]))"
VALID = 40


def _jsonl(partner: str) -> tuple[bytes, list[Record], bytes]:
    """A JSONL file: valid events, a blank line, a bad line (line 12), an event to complete.

    Returns (file content, the records Kafka must hold, the event left incomplete).
    """
    lines: list[bytes] = []
    expected: list[Record] = []
    for i in range(VALID):
        common = {"partner_id": partner, "customer_id": f"cust-{i % 5}"}
        if i % 3 == 0:
            event = valid_order(**common, order_id=f"ord-{partner}-{i}")
        else:
            event = valid_partner_action(**common, customer_name='Sté «Ünïcode» 株式会社, "q"')
        line = orjson.dumps(event)
        lines.append(line)
        expected.append((topic_for_event(event), str(event["customer_id"]).encode(), line))
        if i == 9:
            lines.append(b"   ")  # line 11: blank, skipped but counted
            bad = valid_partner_action(partner_id=partner, customer_id="")
            lines.append(orjson.dumps(bad))  # line 12: empty customer_id
    incomplete = valid_partner_action(partner_id=partner, customer_id="cust-late", event_id=OMIT)
    lines.append(orjson.dumps(incomplete))
    return b"\n".join(lines) + b"\n", expected, orjson.dumps(incomplete)


def _produce(bootstrap: str, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACTIVITYLOG_KAFKA_BOOTSTRAP": bootstrap}
    return subprocess.run(
        [sys.executable, "-c", CLI, "produce", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_produce_sends_every_valid_line_byte_for_byte_and_names_the_bad_one(
    kafka_bootstrap: str, tmp_path: Path, compressed: bool
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:10]}"
    content, expected, incomplete = _jsonl(partner)
    path = tmp_path / ("events.jsonl.gz" if compressed else "events.jsonl")
    path.write_bytes(gzip.compress(content) if compressed else content)

    result = _produce(kafka_bootstrap, path)

    assert result.returncode == 1, result.stderr
    assert result.stderr.count("line ") == 1, result.stderr
    assert "line 12: customer_id" in result.stderr
    assert f"{VALID + 1} sent, 1 rejected" in result.stdout
    records = read_back(kafka_bootstrap, partner, VALID + 1)
    assert len(records) == VALID + 1
    complete = [r for r in records if r[1] != b"cust-late"]
    assert sorted(complete) == sorted(expected)
    assert {r[0] for r in complete} == {ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC}
    # The line without event_id was completed (a UUID) and otherwise sent unchanged.
    [(topic, key, value)] = [r for r in records if r[1] == b"cust-late"]
    assert (topic, key) == (PARTNER_ACTIONS_TOPIC, b"cust-late")
    sent = orjson.loads(value)
    assert uuid.UUID(sent.pop("event_id"))
    assert sent == orjson.loads(incomplete)


def test_produce_when_the_broker_dies_mid_run_accounts_for_every_line(tmp_path: Path) -> None:
    """A broker of its own, killed -9 after the first half is stored; stdin keeps coming."""
    settings = Settings.from_env().with_overrides(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=tmp_path / "kafka-state"
    )
    stack = KafkaStack(settings)
    stack.up(timeout=180)
    partner = f"ptn-{uuid.uuid4().hex[:10]}"
    halves = [_lines(partner, 100, bad_at=7), _lines(partner, 100, bad_at=42)]
    produce = subprocess.Popen(
        [sys.executable, "-c", CLI, "produce", "-"],
        env={
            **os.environ,
            "ACTIVITYLOG_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "ACTIVITYLOG_PRODUCE_CLOSE_TIMEOUT": "5",
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert produce.stdin is not None
        produce.stdin.write(halves[0])
        produce.stdin.flush()
        # The first half is in Kafka (so acknowledged: acks=all on one broker), then it dies.
        assert len(read_back(settings.kafka_bootstrap, partner, 100)) == 100
        pid = stack.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        produce.stdin.write(halves[1])
        out, err = produce.communicate(timeout=180)
    finally:
        if produce.poll() is None:
            produce.kill()
        stack.down()

    assert produce.returncode == 1, err
    # One line for the summary, one line per bad line, one line for the failure: no trace.
    summary = re.fullmatch(
        r"(\d+) sent, 2 rejected(?:, (\d+) failed)?(?:, (\d+) unconfirmed)?\n", out
    )
    assert summary, out
    sent, failed, unconfirmed = (int(n or 0) for n in summary.groups())
    assert sent == 100 and failed + unconfirmed == 100, out
    assert err.count("\n") == 3 and "Traceback" not in err, err
    assert "line 8: customer_id" in err and "line 144: customer_id" in err, err
    assert f"{failed + unconfirmed} events were not acknowledged by Kafka" in err, err


def _lines(partner: str, valid: int, bad_at: int) -> str:
    """`valid` valid events of `partner` as JSONL, with a bad line after the `bad_at`th."""
    lines = []
    for i in range(valid):
        common = {"partner_id": partner, "customer_id": f"cust-{i % 5}"}
        event = valid_order(**common) if i % 3 == 0 else valid_partner_action(**common)
        lines.append(orjson.dumps(event).decode())
        if i + 1 == bad_at:
            lines.append(
                orjson.dumps(valid_partner_action(partner_id=partner, customer_id="")).decode()
            )
    return "\n".join(lines) + "\n"
