"""A long-range export from the page runs as an export job, in real headless Chromium.

A store of ROWS rows (filled in a child process: one chDB engine per
process) is served by a real `activitylog api` (the job runner lives in
the API; no worker, so no broker is needed). The partner picks a range of
almost two years, clicks Export: the page starts a job, shows its rows and
percentage with a Cancel button, then downloads the CSV, which is byte for
byte the direct export of the same range. Screenshots of the progress and
of the end land in `test-artifacts/e2e/`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fixtures.serve import ServeProcess

PAUSE = "pause-export-jobs"
ROWS = 400_000  # a few seconds of job: the page shows several progress steps
RANGE = ("2025-01-01", "2026-11-30")  # 699 days: far above the page's job threshold
TIMEOUT_MS = 120_000

_FILL = """
import sys
from common.store import Store
from common.store import StoreBounds
from schemas.migrate import open_migrated
from tests.fixtures.datasets import fill_store
# The copies' CROSS JOIN, feeding every view, needs more than the default engine bound.
store = open_migrated("chdb://" + sys.argv[1], bounds=StoreBounds(caches=64 << 20))
fill_store(store, int(sys.argv[2]), seed=3, seed_events=20_000)
store.close()
"""


@dataclass(frozen=True)
class Served:
    server: ServeProcess
    key: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("e2e-export-job")
    subprocess.run(
        [sys.executable, "-c", _FILL, str(workdir / "clickhouse"), str(ROWS)],
        capture_output=True,
        timeout=300,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    key = f"k-job-{uuid.uuid4().hex[:8]}"
    server = ServeProcess(
        "127.0.0.1:1",
        workdir,
        command="api",
        ACTIVITYLOG_API_KEYS=f"{key}=*",  # an analyst's all-partners key: every row
        # Only so the test can compare with a direct download of the same long range.
        ACTIVITYLOG_EXPORT_MAX_DAYS="1000",
        # The test holds the job after a chunk while it looks at the progress.
        ACTIVITYLOG_EXPORT_JOBS_PAUSE_FILE=str(workdir / PAUSE),
    ).start()
    try:
        yield Served(server, key)
    finally:
        assert server.stop() == 0, server.log()


@pytest.fixture()
def page(chromium: Browser, served: Served) -> Iterator[Page]:
    context = chromium.new_context(
        timezone_id="UTC", locale="en-GB", viewport={"width": 1366, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on(
        "request",
        lambda req: (
            None
            if req.url.startswith((served.server.url, "blob:", "data:"))
            else problems.append(f"off-site request: {req.url}")
        ),
    )
    try:
        yield page
    finally:
        context.close()
    assert problems == [], problems


def test_a_long_range_export_runs_as_a_job_with_progress_and_downloads(
    page: Page, served: Served, artifacts_dir: Path
) -> None:
    page.goto(served.server.url + "/")
    expect(page.locator("#key-form")).to_be_visible()
    page.fill("#api-key", served.key)
    page.press("#api-key", "Enter")
    expect(page.locator("#key-form")).to_be_hidden()
    page.fill("#from", RANGE[0])
    page.fill("#to", RANGE[1])
    page.click("#apply")
    expect(page.locator("tr.activity-row").first).to_be_visible()

    pause = served.server.workdir / PAUSE
    pause.touch()  # the job holds after its first chunk until the progress is checked
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        page.click("#export")
        # The job's progress: rows of the estimate, a percentage, a bar and Cancel.
        panel = page.locator("#export-job")
        expect(panel).to_be_visible()
        text = page.locator("#export-job-text")
        expect(text).to_have_text(
            re.compile(r"Export job: [\d,]+ of about [\d,]+ rows \(\d+ %\)"), timeout=TIMEOUT_MS
        )
        expect(page.locator("#export-job-cancel")).to_be_visible()
        value = page.locator("#export-job-progress").evaluate("bar => bar.value")
        assert 0 <= value < 100
        path = artifacts_dir / "export-job-progress.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        pause.unlink()
    download = download_info.value
    assert re.fullmatch(
        rf"activity-{RANGE[0]}_{RANGE[1]}-exp_[a-z2-7]{{26}}\.csv", download.suggested_filename
    )
    saved = artifacts_dir / download.suggested_filename
    download.save_as(saved)
    expect(page.locator("#export-job-text")).to_contain_text("Downloaded")
    expect(page.locator("#status")).to_contain_text(download.suggested_filename)
    expect(page.locator("#export-job-cancel")).to_be_hidden()
    path = artifacts_dir / "export-job-done.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")

    body = saved.read_bytes()
    direct = httpx.get(
        f"{served.server.url}/api/v1/activity/export",
        params={"from": RANGE[0], "to": RANGE[1], "tz": "UTC", "format": "csv", "lang": "en"},
        headers={"Authorization": f"Bearer {served.key}"},
        timeout=120,
    )
    assert direct.status_code == 200
    assert body == direct.content, "the job's file is the direct export of the same range"
    assert body.count(b"\r\n") - 1 == int(direct.headers["x-activity-rows"]) > 0
