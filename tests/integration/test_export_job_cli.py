"""`activitylog export --job` end to end: the CLI against a real `activitylog api`.

The CLI finds the server through its `serve.json` (as it would find `serve`),
starts the job, polls it while the job is held (the runner's pause file), then
downloads the file through a proxy that breaks the first transfer in the
middle: the CLI resumes with a Range request and writes exactly the server's
file, checked against the job's SHA-256 and its manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from common.serve_info import SERVE_INFO
from tests.fixtures.breaking_proxy import BreakingProxy
from tests.fixtures.datasets import fill_in_child
from tests.fixtures.serve import ServeProcess, wait_until

ADMIN = "k-admin"
CUT = 1 << 20  # the first transfer breaks after 1 MiB


def test_export_job_is_started_polled_and_its_broken_download_resumed(tmp_path: Path) -> None:
    fill_in_child(tmp_path / "clickhouse", 20_000, seed=9, seed_events=20_000)
    pause = tmp_path / "pause-export-jobs"
    pause.touch()
    server = ServeProcess(
        "127.0.0.1:1",  # `api` runs no worker and never connects to Kafka
        tmp_path,
        command="api",
        ACTIVITYLOG_API_KEYS=f"{ADMIN}=*",
        ACTIVITYLOG_EXPORT_JOBS_PAUSE_FILE=str(pause),
    ).start()
    proxy = BreakingProxy(server.port, CUT)
    cli: subprocess.Popen[bytes] | None = None
    try:
        # The CLI reaches the server where serve.json says: through the proxy.
        info_path = tmp_path / "state" / SERVE_INFO
        info = json.loads(info_path.read_text())
        info_path.write_text(json.dumps(info | {"api_url": proxy.url}))
        output = tmp_path / "out" / "october.jsonl"
        october = ["--from", "2026-10-02", "--to", "2026-10-31", "--tz", "UTC"]
        command = ["export", "--job", "--format", "jsonl", *october, "-o", str(output)]
        cli = subprocess.Popen(
            [sys.executable, "-m", "activitylog.cli", *command],
            env=server.env | {"ACTIVITYLOG_API_KEY": ADMIN},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Held after its first chunk, the job is polled: two status requests at least.
        wait_until(
            lambda: len(proxy.requests("GET", "/api/v1/exports/exp_")) >= 2,
            60,
            "the CLI polling its job",
        )
        assert not proxy.requests("GET", "/download")
        pause.unlink()
        out, err = cli.communicate(timeout=180)
        assert cli.returncode == 0, err.decode()
    finally:
        if cli is not None and cli.poll() is None:
            cli.kill()
        proxy.close()
        pause.unlink(missing_ok=True)

    try:
        [start] = proxy.requests("POST", "/api/v1/exports")
        downloads = proxy.requests("GET", "/download")
        assert proxy.cuts == 1 and len(downloads) >= 2, downloads
        assert "range:" not in downloads[0].lower()
        assert all("range: bytes=" in d.lower() for d in downloads[1:]), downloads
        job_id = out.decode().rsplit("(export job ", 1)[1].split(")", 1)[0]
        job = server.get(f"/api/v1/exports/{job_id}", ADMIN).json()
        assert job["state"] == "done" and job["bytes_written"] > CUT
        data = output.read_bytes()
        assert hashlib.sha256(data).hexdigest() == job["sha256"]
        assert data.count(b"\n") == job["rows_written"] > 0
        direct = httpx.get(
            f"{server.url}{job['download_url']}",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=60,
        )
        assert direct.content == data
        manifest = json.loads(output.with_name(output.name + ".manifest.json").read_text())
        assert manifest["export_id"] == job_id and manifest["sha256"] == job["sha256"]
        # Started through the API (not run in the CLI's process); no partial file left.
        assert start.startswith("POST /api/v1/exports ")
        assert set(os.listdir(output.parent)) == {output.name, output.name + ".manifest.json"}
    finally:
        server.stop()
