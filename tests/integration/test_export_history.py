"""Export history on the real store: direct and job exports, for the right partner only.

A real chDB store, the real app (TestClient), ledger and job runner; keys
with names, so the history says which key acted. Verify re-checks a retained
file on the server and notices a file changed on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from activitylog.cli import main
from common.settings import Settings
from common.store import Store
from query.http.app import create_api
from query.jobs.runner import ExportJobRunner
from query.manifests.ledger import ExportLedger
from schemas.migrate import open_migrated
from tests.fixtures.activity import NOW, dataset, insert
from tests.fixtures.serve import wait_until

KEYS = {"ana:key-a": "ptn-a", "bob:key-b": "ptn-b", "key-admin": "*"}
A, B, ADMIN = ({"Authorization": f"Bearer {k}"} for k in ("key-a", "key-b", "key-admin"))
NOV = {"from": "2026-11-01", "to": "2026-11-30"}


@dataclass
class Api:
    client: TestClient
    jobs: ExportJobRunner
    root: Path


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root: Path = tmp_path_factory.mktemp("history")
    store = open_migrated(f"chdb://{root / 'ch'}")
    insert(store, dataset())
    settings = Settings(state_dir=root / "state", api_keys=KEYS, export_signing_key="sign-me")
    ledger = ExportLedger(store, settings)
    jobs = ExportJobRunner(
        settings, store, ledger=ledger, open_reader=lambda: Store.open(f"chdb://{root / 'ch'}")
    )
    jobs.start()
    try:
        app = create_api(store, settings, now=lambda: NOW, jobs=jobs, ledger=ledger)
        with TestClient(app) as client:
            yield Api(client, jobs, root)
    finally:
        jobs.stop()
        store.close()


def _job(client: TestClient, headers: dict[str, str], **params: str) -> str:
    response = client.post("/api/v1/exports", params=NOV | params, headers=headers)
    assert response.status_code == 202, response.text
    job_id = str(response.json()["id"])

    def done() -> bool:
        state = client.get(f"/api/v1/exports/{job_id}", headers=headers).json()["state"]
        assert state in ("queued", "running", "done"), state
        return state == "done"

    wait_until(done, 60, f"job {job_id} done", every=0.05)
    return job_id


def _direct(client: TestClient, headers: dict[str, str], **params: str) -> str:
    response = client.get("/api/v1/activity/export", params=NOV | params, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.headers["x-activitylog-export-id"])


def _history(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/v1/exports", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_history_lists_each_partners_direct_and_job_exports(api: Api) -> None:
    client = api.client
    direct_a = _direct(client, A, format="jsonl", action="subscription")
    job_a = _job(client, A, format="csv", lang="fr", tz="Europe/Paris")
    direct_b = _direct(client, B)
    job_admin = _job(client, ADMIN, format="parquet")

    mine = _history(client, A, limit=1)  # one a page: the keyset cursor walks them all
    ids = [item["id"] for item in mine]
    assert ids == [job_a, direct_a]  # newest first, and nothing of ptn-b's or the admin's
    job, direct = mine
    assert job["kind"] == "job" and direct["kind"] == "direct"
    assert job["key"] == "ana" and job["created_by"] == "key:ana"
    assert (job["format"], job["lang"], job["tz"]) == ("csv", "fr", "Europe/Paris")
    assert direct["filters"] == {"action": "subscription"}
    assert job["signed"] is True and job["chain_seq"] == direct["chain_seq"] + 1
    assert job["downloadable"] and not direct["downloadable"]
    assert direct["download_url"] is None and job["rows"] > 0 and len(job["sha256"]) == 64
    assert job["from"] == "2026-10-31T23:00:00.000Z"  # the range as resolved in its zone

    downloaded = client.get(job["download_url"], headers=A)
    assert downloaded.status_code == 200
    assert client.get(job["download_url"], headers=B).status_code == 404

    assert [i["id"] for i in _history(client, B)] == [direct_b]
    everyone = [i["id"] for i in _history(client, ADMIN)]
    assert {direct_a, job_a, direct_b, job_admin} <= set(everyone)
    unnamed = next(i for i in _history(client, ADMIN) if i["id"] == job_admin)
    assert unnamed["key"].startswith("#") and "key-admin" not in unnamed["created_by"]


def test_verify_rechecks_the_retained_file(api: Api) -> None:
    client = api.client
    job_id = _job(client, B, format="jsonl")
    checked = client.post(f"/api/v1/exports/{job_id}/verify", headers=B)
    assert checked.status_code == 200 and checked.json()["ok"] is True, checked.text
    assert client.post(f"/api/v1/exports/{job_id}/verify", headers=A).status_code == 404

    job = api.jobs.get(job_id)
    assert job is not None
    path = api.jobs.file_path(job)
    path.write_bytes(path.read_bytes().replace(b"ptn-b", b"ptn-x", 1))
    tampered = client.post(f"/api/v1/exports/{job_id}/verify", headers=B).json()
    assert tampered["ok"] is False and "sha256" in [m["name"] for m in tampered["mismatches"]]

    direct = _direct(client, B)
    gone = client.post(f"/api/v1/exports/{direct}/verify", headers=B)
    assert gone.status_code == 410 and "direct download" in gone.json()["error"]["message"]


def test_bad_history_paging_is_a_400_naming_the_parameter(api: Api) -> None:
    response = api.client.get("/api/v1/exports", params={"cursor": "nope"}, headers=A)
    assert response.status_code == 400 and "cursor" in response.json()["error"]["message"]
    assert api.client.get("/api/v1/exports", params={"limit": 0}, headers=A).status_code == 400


def test_cli_lists_the_history_from_the_store(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = _direct(api.client, A, format="csv")
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", f"chdb://{api.root / 'ch'}")
    monkeypatch.setenv("ACTIVITYLOG_STATE_DIR", str(api.root / "cli-state"))
    assert main(["exports", "list", "--json", "--limit", "500"]) == 0
    page = orjson.loads(capsys.readouterr().out)
    assert page["items"][0]["id"] == exported  # the newest first; the store holder sees all
    assert {i["id"] for i in page["items"]} >= {i["id"] for i in _history(api.client, ADMIN)}
    assert main(["exports", "list", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert exported in out and "key:" not in out and "ana" in out and "more: --cursor" in out
