"""Bad input at the CLI: one clear line naming the problem, a non-zero exit, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from activitylog.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err and "Traceback" not in captured.out
    return code, err


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACTIVITYLOG_KAFKA_BOOTSTRAP", f"127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", f"chdb://{tmp_path / 'ch'}")
    monkeypatch.setenv("ACTIVITYLOG_STATE_DIR", str(tmp_path / "state"))


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["produce", "no-such-file.jsonl"], capsys)
    assert code != 0 and "no-such-file.jsonl does not exist" in err


def test_unreachable_broker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    code, err = _run(["produce", str(events)], capsys)
    assert code != 0 and "cannot reach Kafka" in err


def test_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["export", "--from", "2026-02-30"], capsys)
    assert code != 0 and "from" in err and "not a date" in err


def test_reversed_range(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["query", "--from", "2026-11-10", "--to", "2026-11-01"], capsys)
    assert code != 0 and "before" in err


def test_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["export", "--format", "xls"], capsys)
    assert code != 0 and "xls" in err


def test_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACTIVITYLOG_API_PORT", "http")
    code, err = _run(["query"], capsys)
    assert code != 0 and "ACTIVITYLOG_API_PORT" in err


def test_dry_run_reports_each_bad_line_by_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import orjson

    from tests.fixtures.events import valid_partner_action

    events = tmp_path / "e.jsonl"
    good = orjson.dumps(valid_partner_action()).decode()
    events.write_text(f'{good}\nnot json\n\n{{"order_id": "o-1"}}\n{good}\n')
    code, err = _run(["produce", "--dry-run", str(events)], capsys)
    assert code == 1
    assert "line 2: not valid JSON" in err
    assert "line 4:" in err
    out_lines = [line for line in err.splitlines() if line.startswith("line ")]
    assert len(out_lines) == 2


def test_query_on_an_empty_store_prints_an_empty_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--from", "2026-11-01", "--to", "2026-11-30"]) == 0
    assert "0 rows" in capsys.readouterr().out


def test_unreachable_clickhouse_server_goes_through_the_same_store_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", f"http://al:pw@127.0.0.1:{port}/audit")
    code, err = _run(["migrate"], capsys)
    assert code != 0
    assert f"cannot open ClickHouse server http://127.0.0.1:{port}/audit: connection refused" in err
    assert "pw" not in err


def test_a_cluster_with_an_embedded_store_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_CLUSTER", "prod")
    code, err = _run(["migrate"], capsys)
    assert code == 2 and "ACTIVITYLOG_CLICKHOUSE_CLUSTER" in err


def test_an_unknown_store_scheme_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", "postgres://h/db")
    code, err = _run(["migrate"], capsys)
    assert code == 2 and "ACTIVITYLOG_CLICKHOUSE_URL" in err and "postgres" in err


def test_an_open_api_on_a_public_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACTIVITYLOG_API_HOST", "0.0.0.0")
    code, err = _run(["api"], capsys)
    assert code == 2 and "ACTIVITYLOG_API_KEYS" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["produce"], "Missing argument 'file'"),
        (["export", "--bogus"], "No such option: --bogus"),
        (["produce", "x.jsonl", "--workers", "-1"], "--workers"),
    ],
)
def test_usage_errors_are_shown_as_usage_with_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(argv, capsys)
    assert code == 2 and expected in err and "unexpected" not in err


@pytest.mark.parametrize("command", ["query", "export"])
def test_an_unsupported_language_names_the_supported_ones(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run([command, "--lang", "de"], capsys)
    assert code == 2 and "'de'" in err and "en, fr" in err
    assert err.count("\n") == 1
