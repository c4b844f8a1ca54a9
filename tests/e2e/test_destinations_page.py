"""The page's Webhook destinations section, in real headless Chromium against `serve`.

A partner opens the section, adds its endpoint (a receiver the test runs on
127.0.0.1, allowed by the operator setting), sees the secret once, sees the
activities it publishes arrive and the figures on the page, then removes it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from producers.publisher import ActivityPublisher
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import valid_partner_action
from tests.fixtures.receiver import Receiver
from tests.fixtures.serve import ServeProcess, wait_until

UI_TIMEOUT_MS = 30_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def test_a_partner_adds_a_destination_sees_it_delivered_and_removes_it(
    chromium: Browser, e2e_kafka_bootstrap: str, tmp_path: Path, receiver: Receiver,
    artifacts_dir: Path,
) -> None:  # fmt: skip
    tag = uuid.uuid4().hex[:6]
    partner, key = f"ptn-e2e-dst-{tag}", f"k-dst-{tag}"
    proc = ServeProcess(
        e2e_kafka_bootstrap,
        tmp_path,
        ACTIVITYLOG_API_KEYS=f"{key}={partner}",
        ACTIVITYLOG_DESTINATIONS_ALLOW_LOOPBACK="true",
        ACTIVITYLOG_DELIVERY_GROUP=f"e2e-delivery-{tag}",
        ACTIVITYLOG_CONSUMER_GROUP=f"e2e-worker-{tag}",
    ).start()
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(proc.url + "/")
        page.fill("#api-key", key)  # the activity list asks for the key first
        page.press("#api-key", "Enter")
        expect(page.locator("#key-form")).to_be_hidden()
        page.click("#destinations > summary")
        page.fill("#destination-url", receiver.url)
        page.select_option("#destination-kinds", "partner_action")
        page.click("#destination-add")
        expect(page.locator("#destination-secret")).to_contain_text("whsec_")
        row = page.locator("#destination-rows tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(receiver.url)
        expect(row).to_contain_text("active")
        events = [valid_partner_action(partner_id=partner) for _ in range(3)]
        with ActivityPublisher(e2e_kafka_bootstrap) as publisher:
            for event in events:
                publisher.publish(PARTNER_ACTIONS_TOPIC, event)
        ids = {e["event_id"] for e in events}

        def delivered() -> list[tuple[str, str]]:
            return [
                (a["event_id"], a["action"])
                for request in receiver.accepted()
                for a in json.loads(request.body)["activities"]
            ]

        # Adding the destination is itself an activity of the partner (a partner action).
        def arrived() -> bool:
            actions = [act for _i, act in delivered()]
            others = {i for i, act in delivered() if act != "destination.create"}
            return others == ids and "destination.create" in actions

        wait_until(arrived, 60, "the three activities and the destination's own destination.create")
        page.click("#destinations > summary")  # closed, then opened: the figures are read again
        page.click("#destinations > summary")
        expect(row.locator("td").nth(2)).to_have_text("4")
        page.screenshot(path=str(artifacts_dir / "destinations.png"), full_page=True)
        page.click("#destination-rows button")
        expect(page.locator("#destination-rows tr")).to_have_count(0)
        expect(page.locator("#destination-empty")).to_have_text("No destination yet.")
        assert errors == []
    finally:
        context.close()
        assert proc.stop() == 0, proc.log()
