"""Verifiable exports (docs/contracts.md) on a real store, a real server and the real CLI.

Every export, over HTTP or from the CLI, has an id and a manifest that
`activitylog verify` checks with no store: one byte, one row, the signature
or a chain link changed is named; a closed range exports to the same bytes
twice; another partner's export id answers 404; an export cut short (store
error, client gone) is recorded as failed and has no manifest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq
import pytest
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from activitylog.cli import main
from common.errors import StoreUnavailable
from common.net import free_port
from common.settings import Settings
from common.store import Store
from processors.batch import INSERT_COLUMN_NAMES
from query.exports.formats import export_bytes
from query.filters import ActivityFilter
from query.http.app import create_api
from query.manifests.ledger import ExportLedger
from query.manifests.model import export_request_info, manifest_digest, new_export_id, sign
from query.ranges import resolve_range
from query.reads.slices import count_activity
from schemas.activity import ACTIVITY_TABLE
from tests.fixtures.activity import ADMIN, KEYS, NOW, A, B
from tests.fixtures.events import partner_events
from tests.fixtures.kafka import send_records
from tests.fixtures.serve import ServeProcess, wait_until

SIGNING_KEY = "manifest-test-signing-key"
NOV = {"from": "2026-11-01", "to": "2026-11-30"}
FORMATS = ("csv", "parquet", "jsonl", "xlsx", "csv-fr")


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    settings = Settings(
        api_keys=KEYS, export_signing_key=SIGNING_KEY, export_signing_key_id="test-key-1"
    )
    with TestClient(create_api(store, settings, now=lambda: NOW)) as test_client:
        yield test_client


@pytest.fixture
def signing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIVITYLOG_EXPORT_SIGNING_KEY", SIGNING_KEY)


def _download(client: TestClient, fmt: str, headers: dict[str, str] = A) -> tuple[bytes, str]:
    response = client.get("/api/v1/activity/export", params=NOV | {"format": fmt}, headers=headers)
    assert response.status_code == 200, response.text
    return response.content, response.headers["x-activitylog-export-id"]


def _manifest(client: TestClient, export_id: str, headers: dict[str, str] = A) -> httpx.Response:
    return client.get(f"/api/v1/exports/{export_id}/manifest", headers=headers)


def _verify(*args: str | Path) -> int:
    return main(["verify", *(str(a) for a in args)])


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_download_has_a_signed_manifest_that_verifies(
    client: TestClient,
    fmt: str,
    tmp_path: Path,
    signing_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, export_id = _download(client, fmt)
    response = _manifest(client, export_id)
    assert response.status_code == 200, response.text
    manifest = response.json()
    assert manifest["export_id"] == export_id and manifest["partner_id"] == "ptn-a"
    assert manifest["format"] == fmt and manifest["tz"] == "UTC"
    assert (manifest["from"], manifest["to"]) == (
        "2026-11-01T00:00:00.000Z",
        "2026-12-01T00:00:00.000Z",
    )
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["key_id"] == "test-key-1" and len(manifest["signature"]) == 64
    assert manifest["created_by"].startswith("key:") and "key-a" not in response.text
    rows = client.get("/api/v1/activity", params=NOV | {"limit": 1000}, headers=A).json()
    assert manifest["rows"] == len(rows["items"]) > 20
    times = sorted(item["occurred_at"] for item in rows["items"])
    assert (manifest["first_event_at"], manifest["last_event_at"]) == (times[0], times[-1])

    file = tmp_path / f"export.{fmt}"
    file.write_bytes(data)
    (tmp_path / f"export.{fmt}.manifest.json").write_bytes(response.content)
    assert _verify(file) == 0
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_closed_range_exports_to_the_same_bytes_twice(client: TestClient, fmt: str) -> None:
    first, first_id = _download(client, fmt)
    second, second_id = _download(client, fmt)
    assert first == second and first_id != second_id
    one = _manifest(client, first_id)
    two = _manifest(client, second_id).json()
    assert two["sha256"] == one.json()["sha256"] == hashlib.sha256(first).hexdigest()
    # The chain: the second manifest names the SHA-256 of the first's bytes as served.
    assert two["previous"] == hashlib.sha256(one.content).hexdigest()
    if fmt == "parquet":  # nothing time-dependent in the file's metadata
        import io

        meta = pq.read_metadata(io.BytesIO(first))
        assert meta.created_by.startswith("parquet-cpp-arrow version")
        assert set(meta.metadata) == {b"ARROW:schema"}


def test_another_partners_export_id_answers_404(client: TestClient) -> None:
    _, export_id = _download(client, "jsonl")
    other = _manifest(client, export_id, headers=B)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert _manifest(client, export_id, headers=ADMIN).status_code == 200
    assert _manifest(client, new_export_id()).status_code == 404
    assert _manifest(client, "exp_not-an-id").status_code == 404
    assert client.get(f"/api/v1/exports/{export_id}/manifest").status_code == 401


def test_cli_direct_export_writes_a_manifest_and_verify_names_each_tampering(
    kafka_bootstrap: str,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signing_env: None,
) -> None:
    """No `serve` running: the CLI opens the store and seals with its own ledger."""
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", f"chdb://{store.location.path}")
    monkeypatch.setenv("ACTIVITYLOG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ACTIVITYLOG_KAFKA_BOOTSTRAP", kafka_bootstrap)  # where exports are audited
    args = ["export", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv"]
    first, second = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main([*args, "-o", str(first)]) == 0
    assert main([*args, "-o", str(second)]) == 0
    assert "one.csv.manifest.json (export exp_" in capsys.readouterr().out
    m1, m2 = (Path(f"{p}.manifest.json") for p in (first, second))
    manifest = orjson.loads(m1.read_bytes())
    assert manifest["created_by"].startswith("os:") and manifest["partner_id"] == "*"
    assert _verify(first) == 0 and _verify("--chain", m1, m2) == 0
    assert orjson.loads(m2.read_bytes())["previous"] == hashlib.sha256(m1.read_bytes()).hexdigest()
    capsys.readouterr()
    original = first.read_bytes()

    def mismatches() -> list[str]:
        code = _verify(first, m1)
        out = capsys.readouterr().out
        assert code == (0 if out.startswith("OK") else 1), out
        return [line.split(":")[0].removeprefix("MISMATCH ") for line in out.splitlines()]

    # One byte: a letter of a cell changed, nothing else.
    at = original.index(b"Acme") if b"Acme" in original else len(original) // 2
    first.write_bytes(original[:at] + bytes([original[at] ^ 0x20]) + original[at + 1 :])
    assert mismatches() == ["sha256"]
    # One row: the last record removed (its cells may hold newlines; the count still sees it).
    last = original.rindex(b'\r\n"2026-') + 2
    first.write_bytes(original[:last])
    assert mismatches()[:2] == ["sha256", "rows"]
    first.write_bytes(original)
    assert mismatches() == ["OK"]
    # The signature: one hex digit of it changed.
    signed = m1.read_bytes()
    sig = manifest["signature"]
    m1.write_bytes(
        signed.replace(sig.encode(), (("1" if sig[0] != "1" else "2") + sig[1:]).encode())
    )
    assert mismatches() == ["signature"]
    # A chain link: the first manifest edited (and re-signed by someone with the key).
    edited = manifest | {"rows": manifest["rows"] + 1}
    edited["signature"] = sign(edited, SIGNING_KEY.encode())
    m1.write_bytes(orjson.dumps(edited, option=orjson.OPT_SORT_KEYS))
    assert _verify("--chain", m1, m2) == 1
    assert capsys.readouterr().out.startswith("MISMATCH chain:")
    m1.write_bytes(signed)
    assert _verify("--chain", m1, m2) == 0

    assert main([*args, "-o", str(tmp_path / "bare.csv"), "--no-manifest"]) == 0
    assert not (tmp_path / "bare.csv.manifest.json").exists()


BIG = "ptn-big"
BIG_KEYS = {"key-big": BIG}
BIG_HEADERS = {"Authorization": "Bearer key-big"}


@pytest.fixture(scope="module")
def big_store(store: Store) -> Store:
    """Partner `ptn-big`: about 40,000 rows, more than one export slice and the socket buffers.

    In the module's store (chDB allows one data directory per process): partner
    ptn-a's rows copied 1,200 times under a new partner and new event ids.
    """
    columns = ", ".join(
        {
            "event_id": "concat(event_id, '-', toString(n.number)) AS event_id",
            "partner_id": f"'{BIG}' AS partner_id",
        }.get(c, c)
        for c in INSERT_COLUMN_NAMES
    )
    store.command(
        f"INSERT INTO {ACTIVITY_TABLE} SELECT {columns} FROM {ACTIVITY_TABLE} "  # noqa: S608
        "CROSS JOIN numbers(1, 1200) AS n WHERE activity.partner_id = 'ptn-a'"
    )
    return store


def _exports(fmt: str, outcome: str) -> float:
    labels = {"format": fmt, "outcome": outcome}
    return REGISTRY.get_sample_value("activitylog_exports_total", labels) or 0.0


def test_csv_rows_counted_by_the_engine_are_the_files_own(big_store: Store) -> None:
    # Many blocks, cells holding newlines, and every row delivered twice (FINAL keeps
    # one): the manifest's rows come from chDB's per-block counts, not from a scan.
    big_store.command(
        f"INSERT INTO {ACTIVITY_TABLE} SELECT * FROM {ACTIVITY_TABLE} "  # noqa: S608
        f"WHERE partner_id = '{BIG}'"
    )
    flt = ActivityFilter(range=resolve_range("2026-11-01", "2026-11-30", None, NOW), partner_id=BIG)
    run = ExportLedger(big_store, Settings()).start(
        new_export_id(), export_request_info(flt, "csv", "en", "test")
    )
    data = b"".join(run.stream(export_bytes(big_store, flt, "csv")))
    records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    stored = count_activity(big_store, flt)  # FINAL: each event once
    assert run.manifest is not None
    assert run.manifest["rows"] == len(records) - 1 == stored > 3 * 8192
    assert any("\n" in cell for record in records for cell in record)
    assert run.manifest["last_event_at"] == records[-1][0]


def test_a_store_error_mid_stream_fails_the_export_and_seals_nothing(big_store: Store) -> None:
    flt = ActivityFilter(range=resolve_range("2026-11-01", "2026-11-30", None, NOW), partner_id=BIG)
    ledger = ExportLedger(big_store, Settings())
    run = ledger.start(new_export_id(), export_request_info(flt, "jsonl", "en", "test"))
    before = _exports("jsonl", "failed")
    stream = run.stream(export_bytes(big_store, flt, "jsonl"))
    assert next(stream)  # the first slice is out
    big_store.command(f"RENAME TABLE {ACTIVITY_TABLE} TO activity_away")  # a real store error
    try:
        with pytest.raises(StoreUnavailable):
            for _ in stream:
                pass
    finally:
        big_store.command(f"RENAME TABLE activity_away TO {ACTIVITY_TABLE}")
    assert run.outcome == "failed" and run.manifest is None
    assert ledger.manifest(run.export_id, None) is None
    assert _exports("jsonl", "failed") == before + 1


def test_a_client_that_goes_away_mid_download_fails_the_export(big_store: Store) -> None:
    port = free_port()
    app = create_api(big_store, Settings(api_keys=BIG_KEYS), now=lambda: NOW)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.started, 30, "the in-process API server")
        before = _exports("csv", "failed")
        with httpx.stream(
            "GET", f"{url}/api/v1/activity/export", params=NOV, headers=BIG_HEADERS, timeout=30
        ) as response:
            export_id = response.headers["x-activitylog-export-id"]
            assert next(response.iter_raw(65536))  # the download has begun; now hang up
        wait_until(lambda: _exports("csv", "failed") == before + 1, 30, "the failure recorded")
        manifest = httpx.get(f"{url}/api/v1/exports/{export_id}/manifest", headers=BIG_HEADERS)
        assert manifest.status_code == 404
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_cli_through_a_running_server_keeps_the_servers_manifest(
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signing_env: None,
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    serve = ServeProcess(
        kafka_bootstrap,
        tmp_path / "serve",
        ACTIVITYLOG_API_KEYS=f"analyst:cli-key={partner}",
        ACTIVITYLOG_CONSUMER_GROUP=f"g-{partner}",
        ACTIVITYLOG_EXPORT_SIGNING_KEY=SIGNING_KEY,
    ).start()
    try:
        events = partner_events(partner, 30)
        send_records(kafka_bootstrap, [(t, b"c", orjson.dumps(e)) for t, e in events])

        def stored() -> bool:
            response = serve.get("/api/v1/activity", "cli-key", limit=100, **NOV)
            return len(response.json()["items"]) == 30

        wait_until(stored, 60, "30 stored rows")
        # The CLI finds the running server through its state dir and goes through its API.
        for name in ("ACTIVITYLOG_STATE_DIR", "ACTIVITYLOG_CLICKHOUSE_URL"):
            monkeypatch.setenv(name, serve.env[name])
        monkeypatch.setenv("ACTIVITYLOG_API_KEY", "cli-key")
        outputs = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
        for out in outputs:
            args = ["export", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "parquet"]
            assert main([*args, "-o", str(out)]) == 0
        assert "wrote" in capsys.readouterr().out
        manifests = [Path(f"{out}.manifest.json") for out in outputs]
        first: dict[str, Any] = orjson.loads(manifests[0].read_bytes())
        served = serve.get(f"/api/v1/exports/{first['export_id']}/manifest", "cli-key")
        assert served.content == manifests[0].read_bytes()  # the server's own bytes
        assert first["rows"] == 30 and first["partner_id"] == partner
        assert first["created_by"].endswith(" via key:analyst")  # the key's name
        assert "@" in first["created_by"]  # the OS user the CLI named
        assert _verify(outputs[0]) == 0 and _verify(outputs[1]) == 0
        assert _verify("--chain", *manifests) == 0
        assert orjson.loads(manifests[1].read_bytes())["previous"] == manifest_digest(first)
        # The history through the running server: the key's partner, named by the key.
        capsys.readouterr()
        assert main(["exports", "list", "--json"]) == 0
        history = orjson.loads(capsys.readouterr().out)["items"]
        assert [item["id"] for item in history][1] == first["export_id"]
        assert {item["key"] for item in history} == {"analyst"}
        assert {item["partner_id"] for item in history} == {partner}
    finally:
        assert serve.stop() == 0, serve.log()
