"""Benchmark: a 1,000,000-row export job against the direct export, in the same run.

Builds a store of `rows` rows (a child process: one chDB engine per process),
serves it with `activitylog api`, then measures over HTTP:
- the direct CSV download of the whole range (the reference),
- the same range as an export job (`POST /api/v1/exports`): time to done,
  time to download its file, the server's RSS growth while it ran, and how
  often progress moved (the largest gap between two progress updates seen
  by a client polling every 50 ms),
- the page's first-page latency while the job runs (the job reads through
  a store of its own, so the page must not wait for it).

Run: `python -m tests.bench.bench_export_job [ROWS]` (default 1,000,000).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from schemas.migrate import open_migrated
from tests.bench.api_process import RssSampler, api_server

FROM, TO = "2026-10-01", "2026-10-31"
POLL_SECONDS = 0.05
RSS_GOAL_MB = 200


def build(path: Path, rows: int) -> dict[str, Any]:
    """Fill the store (runs in a child process)."""
    from tests.fixtures.datasets import fill_store

    started = time.perf_counter()
    store = open_migrated(f"chdb://{path}")
    fill_store(store, rows, seed=11)
    total = int(store.query_rows("SELECT count() FROM activity")[0][0])
    store.close()
    return {"rows": total, "build_s": time.perf_counter() - started}


class _PageProbe:
    """First-page latencies of the activity list, measured in a loop while it runs."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        params = {"from": FROM, "to": TO, "limit": "50"}
        while not self._stop.is_set():
            started = time.perf_counter()
            self.http.get("/api/v1/activity", params=params).raise_for_status()
            self.samples.append(time.perf_counter() - started)
            time.sleep(0.1)

    def __enter__(self) -> _PageProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _direct(http: httpx.Client) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of the direct CSV download of the range."""
    started = time.perf_counter()
    size = 0
    params = {"from": FROM, "to": TO, "format": "csv"}
    with http.stream("GET", "/api/v1/activity/export", params=params) as response:
        response.raise_for_status()
        rows = int(response.headers["x-activity-rows"])
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
    return rows, size, time.perf_counter() - started


def _job(http: httpx.Client, pid: int, *, probe_page: bool) -> dict[str, Any]:
    """Run one CSV job, polling its progress (and the page, if asked); then download its file."""
    probe = _PageProbe(http)
    with RssSampler(pid) as rss, probe if probe_page else contextlib.nullcontext():
        before = rss.rss()
        job_started = time.perf_counter()
        job = http.post("/api/v1/exports", json={"from": FROM, "to": TO, "format": "csv"})
        job.raise_for_status()
        url = job.json()["url"]
        changes: list[float] = []  # when rows_written moved while running
        last_rows = -1
        while True:
            status = http.get(url).json()
            now = time.perf_counter()
            if status["state"] not in ("queued", "running"):
                break
            if status["state"] == "running" and status["rows_written"] != last_rows:
                last_rows = status["rows_written"]
                changes.append(now)
            time.sleep(POLL_SECONDS)
        done_s = time.perf_counter() - job_started
    assert status["state"] == "done", status
    gaps = [b - a for a, b in itertools.pairwise(changes)]
    started = time.perf_counter()
    size = 0
    with http.stream("GET", status["download_url"]) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
    return {
        "rows": status["rows_written"],
        "bytes": size,
        "done_s": done_s,
        "download_s": time.perf_counter() - started,
        "rss_growth": rss.peak - before,
        "updates": len(changes),
        "max_gap_s": max(gaps) if gaps else 0.0,
        "first_progress_s": changes[0] - job_started if changes else done_s,
        # From the last row counted to `done`: fsync of the file, rename, manifest sealed.
        "finish_s": now - changes[-1] if changes else 0.0,
        "page": probe.samples,
    }


def _idle_page(http: httpx.Client, seconds: float = 3.0) -> list[float]:
    """First-page latencies with no job running (the reference for the page under a job)."""
    with _PageProbe(http) as probe:
        time.sleep(seconds)
    return probe.samples


def main(rows: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-export-job-") as tmp:
        work = Path(tmp)
        store_dir = work / "clickhouse"
        command = [sys.executable, "-m", "tests.bench.bench_export_job", "--build"]
        child = subprocess.run(
            [*command, str(store_dir), str(rows)], capture_output=True, text=True
        )
        if child.returncode != 0:
            raise RuntimeError(f"building the store failed:\n{child.stderr[-3000:]}")
        built = json.loads(child.stdout.strip().splitlines()[-1])
        with api_server(work, store_dir, "k-admin=*") as (url, pid):
            http = httpx.Client(
                base_url=url, headers={"Authorization": "Bearer k-admin"}, timeout=600
            )
            _direct(http)  # warm-up: the same caches the job will find
            direct = min((_direct(http) for _ in range(2)), key=lambda r: r[2])
            job = _job(http, pid, probe_page=False)
            idle = _idle_page(http)
            busy = _job(http, pid, probe_page=True)
            http.close()
    _report(rows, built, direct, job, idle, busy)


def _report(
    rows: int,
    built: dict[str, Any],
    direct: tuple[int, int, float],
    job: dict[str, Any],
    idle: list[float],
    busy: dict[str, Any],
) -> None:
    mb = 1024 * 1024
    d_rows, d_bytes, d_s = direct
    print(
        f"export job, {built['rows']:,} rows stored in {built['build_s']:.0f}s "
        f"(python -m tests.bench.bench_export_job {rows})"
    )
    print(
        f"  direct CSV download (reference, best of 2): {d_rows:,} rows, {d_bytes / mb:.0f} MB "
        f"in {d_s:.2f}s ({d_rows / d_s:,.0f} rows/s)"
    )
    print(
        f"  CSV export job: {job['rows']:,} rows done in {job['done_s']:.2f}s "
        f"({job['done_s'] / d_s:.2f}x the direct download), then its file downloaded in "
        f"{job['download_s']:.2f}s ({job['bytes'] / mb:.0f} MB)"
    )
    verdict = "ok" if job["rss_growth"] < RSS_GOAL_MB * mb else "OVER"
    print(
        f"  server RSS growth during the job: {job['rss_growth'] / mb:.0f} MB "
        f"(goal < {RSS_GOAL_MB} MB: {verdict})"
    )
    print(
        f"  progress while writing: {job['updates']} updates seen (polled every "
        f"{POLL_SECONDS * 1000:.0f} ms), largest gap {job['max_gap_s']:.2f}s (goal <= 1 s), "
        f"first after {job['first_progress_s']:.2f}s; last row to done (fsync, rename, "
        f"manifest) {job['finish_s']:.2f}s"
    )
    page = busy["page"]
    print(
        f"  first page: p50 {statistics.median(idle) * 1000:.0f} ms with no job, "
        f"p50 {statistics.median(page) * 1000:.0f} ms / max {max(page) * 1000:.0f} ms "
        f"({len(page)} requests) while a second job ran ({busy['done_s']:.2f}s, "
        f"largest progress gap {busy['max_gap_s']:.2f}s)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--build":
        print(json.dumps(build(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
