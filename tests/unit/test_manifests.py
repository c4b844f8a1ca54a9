"""Manifests without a store: facts from bytes, canonical form, signature, chain, verify.

The tap is checked against independent readers (the csv module, pyarrow,
JSON parsing) on every encoder's output, cut into chunks at random places.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from activitylog.cli import main
from common.api_keys import KeyRing, key_entries
from query.exports.csv import csv_chunks
from query.exports.jsonl import record_line
from query.exports.parquet import PARQUET_SELECT, parquet_schema
from query.http.auth import caller_identity
from query.manifests.facts import ExportTap, file_facts
from query.manifests.ledger import ExportRun
from query.manifests.model import (
    MANIFEST_FIELDS,
    ExportFacts,
    ExportRequestInfo,
    build_manifest,
    canonical_bytes,
    is_export_id,
    manifest_digest,
    new_export_id,
    sign,
)
from query.manifests.verify import check_chain, verify
from query.reads.columns import RECORD_COLUMNS

T0 = datetime(2026, 11, 1, tzinfo=UTC)
KEY = b"test-signing-key"
INFO = ExportRequestInfo(
    partner_id="ptn-a",
    created_by="key:0123456789ab",
    from_="2026-11-01T00:00:00.000Z",
    to="2026-12-01T00:00:00.000Z",
    tz="Europe/Paris",
    filters={"action": "order"},
    format="csv",
    lang="en",
    columns=["Date (UTC)"],
)


def _chunked(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    start = 0
    for point in [*points, len(data)]:
        yield data[start:point]
        start = point


def _tap(fmt: str, data: bytes, cuts: list[int]) -> ExportFacts:
    tap = ExportTap(fmt)
    for chunk in _chunked(data, cuts):
        tap.update(chunk)
    return tap.facts()


def _row(i: int, text: str) -> tuple[Any, ...]:
    at = T0 + timedelta(minutes=7 * i, milliseconds=i)
    return (at, f"Customer {text}", "order.placed", "user@x", "placed", text, f"c{i}", f"e{i}")


CELL = st.text(
    alphabet=st.sampled_from(list('ab,"\r\n\t=é ')), max_size=12
)  # quotes, separators and newlines inside cells on purpose


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(CELL, max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=6),
    quote_all=st.booleans(),
)
def test_csv_rows_and_times_match_a_csv_reader(
    texts: list[str], cuts: list[int], quote_all: bool
) -> None:
    rows = [_row(i, t) for i, t in enumerate(texts)]
    if quote_all:  # what ClickHouse writes: every cell quoted
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
        writer.writerow(["Date (UTC)", "x"])
        for r in rows:
            writer.writerow(
                [r[0].isoformat(timespec="milliseconds").replace("+00:00", "Z"), *r[1:]]
            )
        data = buffer.getvalue().encode("utf-8")
    else:
        data = b"".join(csv_chunks(rows))
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    facts = _tap("csv", data, cuts)
    assert facts.rows == len(parsed) - 1 == len(rows)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    dates = [p[0] for p in parsed[1:]]  # the first and last rows' dates, in file order
    assert facts.first_event_at == (dates[0] if dates else None)
    assert facts.last_event_at == (dates[-1] if dates else None)


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=400).map(lambda b: bytes(b'ab",\r\n'[x % 6] for x in b)),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_any_bytes_count_the_same_however_they_are_cut(data: bytes, cuts: list[int]) -> None:
    # Malformed CSV included: the record rule is a function of the bytes, not of the chunks.
    assert _tap("csv", data, cuts) == _tap("csv", data, [])


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(CELL, max_size=30), cuts=st.lists(st.integers(0, 30), max_size=5))
def test_chunks_counted_by_their_writer_give_the_facts_of_a_scan(
    texts: list[str], cuts: list[int]
) -> None:
    # What RecordChunks hands the tap: whole records, with their count (header included).
    records = [b"".join(csv_chunks([], "en"))] + [
        b"".join(csv_chunks([_row(i, t)]))[len(b"".join(csv_chunks([], "en"))) :]
        for i, t in enumerate(texts)
    ]
    points = sorted({0, *(c % (len(records) + 1) for c in cuts), len(records)})
    tap = ExportTap("csv")
    for start, end in itertools.pairwise(points):
        tap.update(b"".join(records[start:end]), end - start)
    assert tap.facts() == _tap("csv", b"".join(records), [])


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_facts_do_not_depend_on_how_the_bytes_are_cut(fmt: str) -> None:
    rows = [_row(i, 'say "hi"\r\nbye' if i % 2 else "plain") for i in range(4)]
    if fmt == "csv":
        data = b"".join(csv_chunks(rows))
    else:
        data = b"".join(
            record_line(("event_id", "occurred_at", "details"), (f"e{i}", r[0], '{"a":1}'))
            for i, r in enumerate(rows)
        )
    whole = _tap(fmt, data, [])
    assert whole.rows == 4 and whole.first_event_at == "2026-11-01T00:00:00.000Z"
    assert _tap(fmt, data, list(range(len(data)))) == whole  # one byte at a time
    assert _tap(fmt, data, list(range(0, len(data), 7))) == whole
    unterminated = _tap(fmt, data.rstrip(b"\r\n"), [])  # a last row without its newline
    assert (unterminated.rows, unterminated.last_event_at) == (4, whole.last_event_at)


def test_csv_row_count_sees_a_row_removed_even_when_cells_hold_newlines() -> None:
    rows = [_row(i, "line one\r\nline two") for i in range(5)]
    data = b"".join(csv_chunks(rows))
    assert _tap("csv", data, []).rows == 5
    assert data.count(b"\r\n") == 1 + 5 * 3  # a naive line count would say 15 rows
    last_row_start = data.rindex(b"\r\n2026-") + 2
    assert _tap("csv", data[:last_row_start], []).rows == 4


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=40),
    cuts=st.lists(st.integers(min_value=0, max_value=20000), max_size=6),
)
def test_jsonl_rows_and_times_match_a_json_reader(count: int, cuts: list[int]) -> None:
    nested = '{"occurred_at":"1999-01-01T00:00:00Z","note":"a\\nb \\"q\\""}'
    data = b"".join(
        record_line(
            RECORD_COLUMNS,
            tuple(
                T0 + timedelta(hours=(i * 37) % 50)
                if name == "occurred_at"
                else (nested if name == "details" else f"{name}-{i}")
                for name in RECORD_COLUMNS
            ),
        )
        for i in range(count)
    )
    records = [json.loads(line) for line in data.splitlines()]
    facts = _tap("jsonl", data, cuts)
    assert facts.rows == len(records) == count
    times = [r["occurred_at"] for r in records]
    assert facts.first_event_at == (times[0] if times else None)
    assert facts.last_event_at == (times[-1] if times else None)


def _parquet_bytes(count: int, group: int) -> bytes:
    schema = parquet_schema()
    columns: dict[str, Any] = {}
    for field in schema:
        if field.name == "occurred_at":
            columns[field.name] = [T0 + timedelta(minutes=(i * 13) % 97) for i in range(count)]
        elif field.name == "line_items":
            columns[field.name] = [[] for _ in range(count)]
        elif field.name in ("currency", "details"):
            columns[field.name] = [None] * count
        else:
            columns[field.name] = [f"{field.name}-{i}" for i in range(count)]
    table = pa.Table.from_pydict(
        {k: v for k, v in columns.items() if k != "details"},
        schema=pa.schema([f for f in schema if f.name != "details"]),
    )
    table = table.append_column(
        schema.field("details"), pa.nulls(count, schema.field("details").type)
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=group, compression="zstd")
    return sink.getvalue()


@pytest.mark.parametrize(("count", "group"), [(0, 10), (1, 10), (95, 10), (1000, 333)])
def test_parquet_rows_and_times_come_from_the_footer(count: int, group: int) -> None:
    data = _parquet_bytes(count, group)
    facts = _tap("parquet", data, [7, 1000, len(data) - 3])
    table = pq.read_table(io.BytesIO(data))
    assert facts.rows == table.num_rows == count
    assert [f.name for f in table.schema] == [name for name, _ in PARQUET_SELECT]
    times = table.column("occurred_at").to_pylist()  # not in time order: file order counts
    expect_first = (
        times[0].isoformat(timespec="milliseconds").replace("+00:00", "Z") if times else None
    )
    expect_last = (
        times[-1].isoformat(timespec="milliseconds").replace("+00:00", "Z") if times else None
    )
    assert (facts.first_event_at, facts.last_event_at) == (expect_first, expect_last)


def test_a_truncated_parquet_file_has_no_rows() -> None:
    data = _parquet_bytes(50, 10)
    assert _tap("parquet", data[:-10], []).rows == 0


# -- manifest, signature, chain ---------------------------------------------------------------


def _facts(data: bytes, fmt: str = "csv") -> ExportFacts:
    return _tap(fmt, data, [])


def _manifest(
    data: bytes, previous: str | None = None, key: bytes | None = KEY, export_id: str = ""
) -> dict[str, Any]:
    return build_manifest(
        export_id or new_export_id(),
        INFO,
        _facts(data),
        created_at="2026-11-27T10:00:00.000Z",
        previous=previous,
        signing_key=key,
    )


def test_manifest_has_the_fields_of_design_9_and_a_canonical_form() -> None:
    manifest = _manifest(b"\xef\xbb\xbfDate (UTC)\r\n")
    assert set(manifest) == {*MANIFEST_FIELDS, "key_id", "signature"}
    assert manifest["from"] == INFO.from_ and manifest["rows"] == 0
    assert canonical_bytes(manifest) == json.dumps(
        manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert manifest_digest(manifest) == hashlib.sha256(canonical_bytes(manifest)).hexdigest()
    assert json.loads(canonical_bytes(manifest)) == manifest
    unsigned = _manifest(b"x", key=None)
    assert "signature" not in unsigned and "key_id" not in unsigned


def test_signature_covers_everything_but_itself() -> None:
    manifest = _manifest(b"data")
    assert sign(manifest, KEY) == manifest["signature"]
    assert sign(manifest | {"rows": 99}, KEY) != manifest["signature"]
    assert sign(manifest, b"other key") != manifest["signature"]


def test_export_ids_are_random_and_checked_by_shape() -> None:
    ids = {new_export_id() for _ in range(100)}
    assert len(ids) == 100 and all(is_export_id(i) for i in ids)
    assert not is_export_id("exp_../../etc") and not is_export_id("")


def _csv_file(tmp_path: Path, rows: int = 6) -> tuple[Path, bytes]:
    data = b"".join(csv_chunks([_row(i, f"text {i}\nmore") for i in range(rows)]))
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    return path, data


def test_verify_names_what_broke(tmp_path: Path) -> None:
    path, data = _csv_file(tmp_path)
    manifest = _manifest(data)
    assert verify(path, manifest, signing_key=KEY) == []

    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(flipped))
    assert verify(path, manifest, signing_key=KEY) == ["sha256"]

    one_row_less = b"".join(csv_chunks([_row(i, f"text {i}\nmore") for i in range(5)]))
    path.write_bytes(one_row_less)
    assert verify(path, manifest, signing_key=KEY) == ["sha256", "rows", "last_event_at"]

    path.write_bytes(data)
    forged = manifest | {"signature": "0" * 64}
    assert verify(path, forged, signing_key=KEY) == ["signature"]
    assert verify(path, manifest | {"rows": 7}, signing_key=KEY) == ["rows", "signature"]
    assert verify(path, manifest, signing_key=b"wrong") == ["signature"]
    assert verify(path, _manifest(data, key=None), signing_key=KEY) == ["signature"]
    assert verify(path, manifest, signing_key=None) == []  # nothing to check it with


def test_chain_links_each_manifest_to_the_previous_one() -> None:
    first = _manifest(b"one")
    second = _manifest(b"two", previous=manifest_digest(first))
    third = _manifest(b"three", previous=manifest_digest(second))
    names = ["m1", "m2", "m3"]
    assert check_chain([first, second, third], names, signing_key=KEY).ok

    broken = dict(second, previous="ab" * 32)
    broken["signature"] = sign(broken, KEY)  # re-signed: only the link is wrong
    verdict = check_chain([first, broken, third], names, signing_key=KEY)
    assert verdict.names() == ["chain", "chain"]  # m2 -> m1 and m3 -> m2 both break

    skipped = check_chain([first, third], ["m1", "m3"], signing_key=KEY)
    assert skipped.names() == ["chain"]
    assert check_chain(
        [first, dict(second, signature="00")], names[:2], signing_key=KEY
    ).names() == ["signature"]


def test_caller_identity_never_shows_the_key() -> None:
    def request(headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "headers": raw})

    key = "super-secret-key-value"
    ring = KeyRing(key_entries({key: "ptn-a", "ops:short": "*"}), b"server-secret")
    label = ring.label_of(key)
    assert label is not None
    who = caller_identity(request({}), label)
    digest = hmac.new(b"server-secret", key.encode(), hashlib.sha256).hexdigest()
    assert who == "key:#" + digest[:12]
    assert key not in who and hashlib.sha256(key.encode()).hexdigest()[:12] not in who
    assert caller_identity(request({}), ring.label_of("short")) == "key:ops"
    portal = caller_identity(request({"X-Activitylog-User": "alice@\x1bpartner"}), label)
    assert portal == f"alice@partner via {who}"
    assert caller_identity(request({}), None) == "unauthenticated"


# -- one outcome per run ----------------------------------------------------------------------


class _Ledger:
    """Records what an ExportRun asks of its ledger (the run's own logic is under test)."""

    def __init__(self) -> None:
        self.sealed: list[ExportFacts] = []
        self.failed: list[tuple[int, str, bool]] = []

    def seal(self, export_id: str, info: ExportRequestInfo, facts: ExportFacts) -> dict[str, Any]:
        self.sealed.append(facts)
        return {"export_id": export_id, "rows": facts.rows}

    def fail(
        self, export_id: str, info: ExportRequestInfo, rows: int, reason: str, *, cancelled: bool
    ) -> None:
        self.failed.append((rows, reason, cancelled))


def _run(ledger: _Ledger) -> ExportRun:
    return ExportRun(ledger, new_export_id(), INFO)  # type: ignore[arg-type]


def test_a_complete_stream_is_sealed_once() -> None:
    ledger = _Ledger()
    run = _run(ledger)
    data = b"".join(csv_chunks([_row(i, "x") for i in range(3)]))
    assert b"".join(run.stream(iter([data[:10], data[10:]]))) == data
    assert run.outcome == "sealed" and ledger.sealed[0].rows == 3
    assert not run.abort("late disconnect") and not ledger.failed


def test_a_stream_that_breaks_fails_once_and_is_never_sealed() -> None:
    from common.errors import StoreUnavailable

    def broken() -> Iterator[bytes]:
        yield b"".join(csv_chunks([_row(i, "x") for i in range(2)]))
        raise StoreUnavailable("chDB: Code: 60. (UNKNOWN_TABLE)")

    ledger = _Ledger()
    run = _run(ledger)
    stream = run.stream(broken())
    next(stream)
    with pytest.raises(StoreUnavailable):
        next(stream)
    assert run.outcome == "failed" and ledger.failed == [
        (2, "chDB: Code: 60. (UNKNOWN_TABLE)", False)
    ]
    assert run.finish() is None and not ledger.sealed


def test_a_seal_that_cannot_be_stored_is_a_failed_export() -> None:
    from common.errors import StoreUnavailable

    class _Broken(_Ledger):
        def seal(
            self, export_id: str, info: ExportRequestInfo, facts: ExportFacts
        ) -> dict[str, Any]:
            raise StoreUnavailable("chDB: disk full")

    ledger = _Broken()
    run = _run(ledger)
    with pytest.raises(StoreUnavailable):
        list(run.stream(iter([b"h\r\n", b"r\r\n"])))
    assert run.outcome == "failed" and ledger.failed == [
        (1, "sealing failed: chDB: disk full", False)
    ]
    assert not run.abort("the client left")


def test_a_stream_closed_early_is_a_failed_export() -> None:
    ledger = _Ledger()
    run = _run(ledger)
    stream = run.stream(iter([b"a\r\n", b"b\r\n"]))
    next(stream)
    stream.close()  # what the server does when the client goes away
    assert run.outcome == "failed" and "disconnected" in ledger.failed[0][1]
    assert not run.abort("again") and len(ledger.failed) == 1


# -- the command ------------------------------------------------------------------------------


def test_verify_command_says_ok_or_names_each_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACTIVITYLOG_EXPORT_SIGNING_KEY", KEY.decode())
    path, data = _csv_file(tmp_path)
    manifest_path = tmp_path / "export.csv.manifest.json"
    manifest_path.write_bytes(canonical_bytes(_manifest(data)))
    assert main(["verify", str(path)]) == 0
    assert capsys.readouterr().out.startswith("OK")

    path.write_bytes(data.replace(b"text 3", b"text 4"))
    assert main(["verify", str(path), str(manifest_path)]) == 1
    assert capsys.readouterr().out.startswith("MISMATCH sha256:")

    monkeypatch.setenv("ACTIVITYLOG_EXPORT_SIGNING_KEY", "another key")
    path.write_bytes(data)
    assert main(["verify", str(path)]) == 1
    assert capsys.readouterr().out.startswith("MISMATCH signature:")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such manifest file"),
        (b"{not json", "is not valid JSON"),
        (b"[1, 2]", "not a manifest"),
        (b'{"rows": 1}', "is not a manifest (missing"),
    ],
)
def test_verify_command_rejects_an_unusable_manifest_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path, _ = _csv_file(tmp_path)
    if content is not None:
        (tmp_path / "export.csv.manifest.json").write_bytes(content)
    assert main(["verify", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_file_facts_reads_a_file_as_the_tap_reads_a_stream(tmp_path: Path) -> None:
    path, data = _csv_file(tmp_path, rows=40)
    assert file_facts(path, "csv") == _tap("csv", data, [100, 2000])


def test_signing_settings_come_from_the_environment_and_stay_out_of_reprs() -> None:
    from common.settings import Settings

    settings = Settings.from_env(
        {"ACTIVITYLOG_EXPORT_SIGNING_KEY": "k3y-value", "ACTIVITYLOG_EXPORT_SIGNING_KEY_ID": " k1 "}
    )
    assert settings.export_signing_key == "k3y-value" and settings.export_signing_key_id == "k1"
    assert "k3y-value" not in repr(settings)
    assert Settings.from_env({}).export_signing_key is None


def test_verify_command_without_paths_says_what_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 2
    assert "give FILE [MANIFEST]" in capsys.readouterr().err
    assert main(["verify", "--chain", "only-one.json"]) == 2
    assert "at least two manifests" in capsys.readouterr().err
