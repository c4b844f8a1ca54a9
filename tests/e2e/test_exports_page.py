"""The page's Exports view and Scheduled exports section, in real headless Chromium.

A small store (filled in a child process: one chDB engine per process) served
by a real `activitylog api` with a named key. A job export and a direct
download are made through the API; on the page the analyst opens the history,
re-downloads the job's file (byte for byte the server's file), verifies it,
sees the direct download listed as not kept, then creates a monthly schedule
with the page's current filter and removes it. Screenshots land in
`test-artifacts/e2e/`.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fixtures.browser import guarded_page
from tests.fixtures.serve import ServeProcess, wait_until

ROWS = 3_000
OCT = {"from": "2026-10-01", "to": "2026-10-31", "tz": "UTC"}  # the filled month
TIMEOUT_MS = 60_000

_FILL = """
import sys
from common.store import StoreBounds
from schemas.migrate import open_migrated
from tests.fixtures.datasets import fill_store
# The copies' CROSS JOIN, feeding every view, needs more than the default engine bound.
store = open_migrated("chdb://" + sys.argv[1], bounds=StoreBounds(caches=64 << 20))
fill_store(store, int(sys.argv[2]), seed=5, seed_events=1_000)
store.close()
"""


@dataclass(frozen=True)
class Served:
    server: ServeProcess
    key: str

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.request(method, self.server.url + path, headers=headers, timeout=60, **kw)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("e2e-exports")
    subprocess.run(
        [sys.executable, "-c", _FILL, str(workdir / "clickhouse"), str(ROWS)],
        capture_output=True,
        timeout=300,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    key = f"k-{uuid.uuid4().hex}"
    server = ServeProcess(
        "127.0.0.1:1", workdir, command="api", ACTIVITYLOG_API_KEYS=f"ana:{key}=*"
    ).start()
    try:
        yield Served(server, key)
    finally:
        assert server.stop() == 0, server.log()


@pytest.fixture()
def page(chromium: Browser, served: Served) -> Iterator[Page]:
    with guarded_page(
        chromium, served.server.url, timezone_id="Europe/Paris", timeout_ms=TIMEOUT_MS
    ) as page:
        yield page


def _job(served: Served) -> dict[str, Any]:
    started = served.call("POST", "/api/v1/exports", json=OCT | {"format": "csv"})
    assert started.status_code == 202, started.text
    url = started.json()["url"]

    def done() -> dict[str, Any] | None:
        status: dict[str, Any] = served.call("GET", url).json()
        assert status["state"] in ("queued", "running", "done"), status
        return status if status["state"] == "done" else None

    found: dict[str, Any] = wait_until(done, 60, "the job done", every=0.1)
    return found


def test_history_redownloads_and_verifies_and_a_schedule_is_created(
    page: Page, served: Served, artifacts_dir: Path
) -> None:
    job = _job(served)
    direct = served.call("GET", "/api/v1/activity/export", params=OCT)
    assert direct.status_code == 200
    direct_id = direct.headers["x-activitylog-export-id"]

    page.goto(served.server.url + "/")
    page.fill("#api-key", served.key)
    page.press("#api-key", "Enter")
    expect(page.locator("#key-form")).to_be_hidden()

    page.click("#exports-show")
    job_row = page.locator(f'#exports-rows tr[data-export-id="{job["id"]}"]')
    expect(job_row).to_be_visible()
    expect(job_row).to_contain_text("ana")
    # The page writes dates by the browser's locale (en-GB here), the range's zone named.
    expect(job_row).to_contain_text("01/10/2026 – 31/10/2026 (UTC)")
    direct_row = page.locator(f'#exports-rows tr[data-export-id="{direct_id}"]')
    expect(direct_row).to_contain_text("not kept")
    expect(direct_row.locator("button")).to_have_count(0)

    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        job_row.locator("button.export-download").click()
    download = download_info.value
    assert download.suggested_filename == job["file_name"]
    saved = artifacts_dir / download.suggested_filename
    download.save_as(saved)
    server_file = served.call("GET", job["download_url"])
    assert saved.read_bytes() == server_file.content
    assert server_file.content.count(b"\r\n") - 1 == job["rows_written"] > 0

    job_row.locator("button.export-verify").click()
    expect(job_row.locator(".export-note")).to_have_text("Verified: the file matches its manifest.")
    page.screenshot(path=str(artifacts_dir / "exports-history.png"), full_page=True)

    page.click("#schedules-show")
    expect(page.locator("#schedules-status")).to_have_text("No schedules.")
    page.select_option("#action", "subscription")  # the page's filter goes with it
    page.select_option("#schedule-every", "month")
    page.fill("#schedule-day", "1")
    page.fill("#schedule-at", "02:00")
    expect(page.locator("#schedule-tz")).to_have_value("Europe/Paris")  # the browser's zone
    page.select_option("#schedule-format", "parquet")
    page.click("#schedule-add")
    item = page.locator("#schedules-list li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("every month on day 1 at 02:00 Europe/Paris, the previous month")
    expect(item).to_contain_text("action=subscription")
    expect(page.locator("#schedules-status")).to_contain_text("Schedule added")
    page.screenshot(path=str(artifacts_dir / "exports-schedule.png"), full_page=True)

    listed = served.call("GET", "/api/v1/schedules").json()["items"]
    assert len(listed) == 1
    rule = listed[0]["rule"]
    assert (rule["format"], rule["tz"], rule["filters"]) == (
        "parquet",
        "Europe/Paris",
        {"action": "subscription"},
    )
    assert listed[0]["created_by"].endswith("key:ana")

    item.locator("button.schedule-remove").click()
    expect(page.locator("#schedules-list li")).to_have_count(0)
    assert served.call("GET", "/api/v1/schedules").json()["items"] == []
