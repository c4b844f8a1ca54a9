"""`activitylog api` as a real process: refuses to serve unkeyed beyond loopback; serves keyed.

The in-process tests (test_api_activity.py) cover the behaviour; these check
the process boundary: real uvicorn, real headers on the wire, start-up checks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from schemas.migrate import open_migrated
from tests.fixtures.activity import dataset, eid, insert
from tests.fixtures.serve import ServeProcess


def test_without_keys_the_api_refuses_a_non_loopback_bind_and_says_why(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "ACTIVITYLOG_API_HOST": "0.0.0.0",
        "ACTIVITYLOG_API_PORT": "1",
        "ACTIVITYLOG_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
        "ACTIVITYLOG_STATE_DIR": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "activitylog.cli", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "ACTIVITYLOG_API_KEYS" in done.stderr and "not loopback" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "ch").exists()  # refused before touching the store


def test_a_served_api_streams_a_named_download_and_documents_itself(tmp_path: Path) -> None:
    store_dir = tmp_path / "clickhouse"
    store = open_migrated(f"chdb://{store_dir}")
    try:
        insert(store, dataset())
    finally:
        store.close()
    api = ServeProcess(
        "127.0.0.1:1",  # no broker: `api` runs no worker
        tmp_path,
        command="api",
        ACTIVITYLOG_API_KEYS="k-a=ptn-a,k-b=ptn-b",
    ).start()
    try:
        params = {"from": "2026-11-01", "to": "2026-11-30", "format": "csv", "lang": "fr"}
        with httpx.stream(
            "GET",
            f"{api.url}/api/v1/activity/export",
            params=params,
            headers={"Authorization": "Bearer k-a"},
            timeout=30,
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/csv")
            assert (
                response.headers["content-disposition"]
                == 'attachment; filename="activity-2026-11-01_2026-11-30.csv"'
            )
            body = response.read()
        assert body.startswith(b"\xef\xbb\xbfDate (UTC),Client affect\xc3\xa9")
        assert int(response.headers["x-activity-rows"]) == body.count(b"\r\n") - 1
        subs = api.get("/api/v1/customers/cust-cafe/subscriptions", "k-a").json()
        assert {s["subscription_id"] for s in subs["items"]} == {"sub-1", "sub-2"}
        assert api.get(f"/api/v1/activity/{eid('order-cafe')}", "k-b").status_code == 404
        bad = api.get("/api/v1/activity", "k-a", limit=5000)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
        assert (
            "/api/v1/customers/{customer_id}/subscriptions"
            in api.get("/openapi.json").json()["paths"]
        )
        assert api.get("/healthz").json()["status"] == "ok"
        assert "python_info" in api.get("/metrics").text

        # The CLI finds the running API (serve.json) and goes through it: the
        # store's directory is held by the API process.
        cli_env = api.env | {"ACTIVITYLOG_API_KEY": "k-a"}
        out = tmp_path / "nov.parquet"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "activitylog.cli",
                "export",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-30",
                "--customer",
                "élodie",
                "--format",
                "parquet",
                "-o",
                str(out),
            ],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert f"wrote {out}: 6 rows" in done.stdout
        assert pq.read_table(out).num_rows == 6
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "activitylog.cli",
                "query",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-30",
                "--customer-id",
                "cust-tz",
            ],
            env=cli_env | {"COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "Zeit GmbH" in done.stdout and "Customer updated" in done.stdout
        assert "2 rows" in done.stdout
    finally:
        assert api.stop() == 0
