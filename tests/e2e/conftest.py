"""Browser-test fixtures: Debian's Chromium driven by Playwright, a broker, a screenshot folder.

The browser is the system's `/usr/bin/chromium` (installed by `make browser`);
Playwright's own browser download is never used, so the tests run on a
machine that reaches only the package registries.

The browser tests start their own broker rather than share the integration
tests' one: a fresh `serve` consumes its topics from the beginning, so on a
shared broker it would also replay every other test's messages, and the
page's test would depend on what ran before it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from activitylog.devstack.kafka import KafkaStack
from common.net import free_port
from common.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = os.environ.get("ACTIVITYLOG_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
# First start on a machine also fetches the broker's jars (cached per machine).
KAFKA_START_TIMEOUT = 180.0


@pytest.fixture(scope="package")
def e2e_kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single-node Kafka broker on a free port for the browser tests only."""
    settings = Settings.from_env().with_overrides(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        state_dir=tmp_path_factory.mktemp("e2e-kafka-state"),
    )
    stack = KafkaStack(settings)
    try:
        stack.up(timeout=KAFKA_START_TIMEOUT)
        yield settings.kafka_bootstrap
    finally:
        stack.down()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """`test-artifacts/e2e/` at the repository root, emptied once per session (git ignores it)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the session; the test fails, not skips, when it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
