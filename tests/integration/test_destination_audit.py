"""Adding and removing a webhook destination show in the partner's own log, by who did it:
`activitylog serve` on the real broker and a real chDB store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.serve import ServeProcess, wait_until


def test_adding_and_removing_a_destination_are_activities_of_the_partner_by_the_key(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    key = f"k-{uuid.uuid4().hex[:8]}"
    proc = ServeProcess(
        kafka_bootstrap,
        tmp_path,
        ACTIVITYLOG_API_KEYS=f"ops-team:{key}={partner},other:k-other=ptn-someone-else",
        ACTIVITYLOG_CONSUMER_GROUP=f"g-{partner}",
        ACTIVITYLOG_DESTINATIONS_ALLOW_LOOPBACK="true",
    ).start()
    auth = {"Authorization": f"Bearer {key}"}
    try:
        created = httpx.post(
            f"{proc.url}/api/v1/destinations",
            json={"url": "http://127.0.0.1:9/in/token-123?sig=x", "kinds": ["order"]},
            headers=auth,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        destination_id = created.json()["id"]
        removed = httpx.delete(
            f"{proc.url}/api/v1/destinations/{destination_id}", headers=auth, timeout=30
        )
        assert removed.status_code == 200, removed.text
        today = datetime.now(UTC).date()
        window = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}

        def audited(k: str) -> list[dict[str, Any]]:
            response = proc.get("/api/v1/activity", k, limit=100, **window)
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            return [i for i in items if i["action"].startswith("destination.")]

        wait_until(lambda: len(audited(key)) == 2, 60, "both destination activities")
        found = sorted(audited(key), key=lambda i: str(i["action"]))
        assert [i["action"] for i in found] == ["destination.create", "destination.delete"]
        assert all(i["resource_id"] == destination_id for i in found)
        assert all(i["partner_user"] == "key:ops-team" for i in found)
        assert "token-123" not in str(found)
        assert audited("k-other") == []  # another partner's log never shows them
    finally:
        assert proc.stop() == 0, proc.log()
