"""`activitylog simulate -o FILE` and `activitylog produce --dry-run`: no broker needed.

The simulator's output is checked with an independent validator (the
`jsonschema` library on the published JSON Schema files), not with our own
pydantic models.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from activitylog.cli import main
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC, topic_for_event
from tests.fixtures.events import OMIT, valid_order, valid_partner_action

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "jsonschema"
SIMULATE = ["simulate", "--seed", "5", "--events", "3000", "--end", "2026-11-30", "--days", "30"]


def _validators() -> dict[str, Draft202012Validator]:
    files = {PARTNER_ACTIONS_TOPIC: "partner-action.v1.json", ORDERS_TOPIC: "order.v1.json"}
    return {
        topic: Draft202012Validator(
            json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8")),
            format_checker=FormatChecker(),
        )
        for topic, name in files.items()
    }


def test_simulate_output_validates_against_the_json_schema_files(tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl.gz"
    assert main([*SIMULATE, "--partners", "4", "--customers", "25", "-o", str(out)]) == 0
    lines = gzip.decompress(out.read_bytes()).splitlines()
    assert len(lines) == 3000
    validators = _validators()
    topics = set()
    for line in lines:
        event = json.loads(line)
        topic = topic_for_event(event)
        topics.add(topic)
        errors = list(validators[topic].iter_errors(event))
        assert not errors, f"{errors[0].message} at {list(errors[0].path)} in {line[:200]!r}"
    assert topics == {PARTNER_ACTIONS_TOPIC, ORDERS_TOPIC}
    assert len({json.loads(line)["partner_id"] for line in lines}) == 4


def test_simulate_is_deterministic_for_a_seed_and_window(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert main([*SIMULATE, "-o", str(a)]) == 0
    assert main([*SIMULATE, "-o", str(b)]) == 0
    assert main([*SIMULATE[:2], "6", *SIMULATE[3:], "-o", str(c)]) == 0
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_simulate_window_from_start_and_end_bounds_every_event(tmp_path: Path) -> None:
    out = tmp_path / "w.jsonl"
    args = ["simulate", "--events", "500", "--start", "2026-01-01", "--end", "2026-01-02"]
    assert main([*args, "-o", str(out)]) == 0
    stamps = [
        datetime.fromisoformat(orjson.loads(line)["occurred_at"].replace("Z", "+00:00"))
        for line in out.read_bytes().splitlines()
    ]
    assert len(stamps) == 500
    # --end as a date means the whole day, in UTC.
    assert min(stamps) >= datetime(2026, 1, 1, tzinfo=UTC)
    assert max(stamps) < datetime(2026, 1, 3, tzinfo=UTC)
    assert max(stamps) >= datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "yesterday"], "--start"),
        (["--start", "2026-02-01", "--end", "2026-01-01"], "end must not be before start"),
        (["--end", "2026-01-01T10:00:00"], "offset"),
    ],
)
def test_simulate_bad_options_are_one_line_and_non_zero(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulate", "--events", "10", *args, "-o", str(tmp_path / "x.jsonl")])
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_dry_run_reports_each_bad_line_by_number_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = orjson.dumps(valid_partner_action())
    lines = [
        good,
        b"",
        b"{not json",
        orjson.dumps(valid_order(order_status="shipped")),
        orjson.dumps(valid_partner_action(customer_id=OMIT)),
        b"[1]",
        orjson.dumps(valid_order()),
    ]
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    code = main(["produce", "--dry-run", str(path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "2 valid, 4 rejected" in out
    assert "line 3: not valid JSON" in err
    assert "line 4: order_status: must be one of" in err
    assert "line 5: customer_id: is required" in err
    assert "line 6:" in err and "JSON object" in err
    assert "Traceback" not in err
    # Not a terminal: no progress bar, so stderr holds the four reasons only.
    assert len(err.strip().splitlines()) == 4


def test_dry_run_of_a_clean_file_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_bytes(orjson.dumps(valid_partner_action()) + b"\n")
    assert main(["produce", "--dry-run", str(path)]) == 0
    assert "1 valid, 0 rejected" in capsys.readouterr().out


def test_produce_of_a_missing_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["produce", "--dry-run", "/nonexistent/x.jsonl"]) != 0
    assert capsys.readouterr().err.strip() == "error: FILE: /nonexistent/x.jsonl does not exist"
