"""Exports are audited, and the expanded row's lifecycle and diff, on the real pipeline.

One `activitylog serve` (real Kafka broker, Faust worker, chDB) serves every
test of the module. Each export path (the CLI on the store directly, before
the server starts; the CLI through the server; the HTTP API; an export job)
must come back as an `export.create` activity consumed from Kafka, in the
exporting partner's log only. The detail endpoint's `lifecycle` and
`changes` are checked on events published through the same pipeline.
"""

from __future__ import annotations

import csv
import io
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from activitylog.runtime import export_audit
from common.net import free_port
from common.settings import Settings
from producers.publisher import ActivityPublisher
from query.manifests.audit import audit_event_id
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import valid_order, valid_partner_action
from tests.fixtures.serve import ServeProcess, wait_until

KA, KB, KOPS = "k-audit-a", "k-audit-b", "k-audit-ops"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@dataclass
class Audited:
    serve: ServeProcess
    partner_a: str
    partner_b: str
    ids: dict[str, str]
    cli_direct_export_id: str
    workdir: Path


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "activitylog.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _manifest_id(path: Path) -> str:
    manifest = orjson.loads(path.with_name(path.name + ".manifest.json").read_bytes())
    return str(manifest["export_id"])


def _seed(bootstrap: str, partner_a: str, partner_b: str) -> dict[str, str]:
    """An order placed then completed (one correlation id), a quantity change, and another
    partner's event under the same correlation id (which must never join the lifecycle)."""
    corr = f"corr-{uuid.uuid4().hex[:8]}"
    ids = {name: str(uuid.uuid4()) for name in ("placed", "completed", "change", "other")}
    common = {"partner_id": partner_a, "customer_id": "cust-audit", "customer_name": "Audit SA"}
    events = [
        (
            ORDERS_TOPIC,
            valid_order(
                **common,
                event_id=ids["placed"],
                order_status="placed",
                correlation_id=corr,
                occurred_at="2026-11-10T09:00:00Z",
            ),
        ),
        (
            ORDERS_TOPIC,
            valid_order(
                **common,
                event_id=ids["completed"],
                order_status="completed",
                correlation_id=corr,
                occurred_at="2026-11-10T09:05:00Z",
            ),
        ),
        (
            PARTNER_ACTIONS_TOPIC,
            valid_partner_action(
                **common,
                event_id=ids["change"],
                occurred_at="2026-11-12T10:00:00Z",
                correlation_id=None,
                details={
                    "old": {"quantity": 5, "billing": {"cycle": "monthly", "po": "A1"}},
                    "new": {"quantity": 8, "billing": {"cycle": "annual", "po": "A1"}},
                },
            ),
        ),
        (
            PARTNER_ACTIONS_TOPIC,
            valid_partner_action(
                partner_id=partner_b,
                event_id=ids["other"],
                correlation_id=corr,
                occurred_at="2026-11-10T09:02:00Z",
            ),
        ),
    ]
    with ActivityPublisher(bootstrap) as publisher:
        for topic, event in events:
            publisher.publish(topic, event)
    ids["correlation_id"] = corr
    return ids


@pytest.fixture(scope="module")
def audited(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    workdir = tmp_path_factory.mktemp("export-audit")
    tag = uuid.uuid4().hex[:8]
    partner_a, partner_b = f"ptn-audit-a-{tag}", f"ptn-audit-b-{tag}"
    serve = ServeProcess(
        kafka_bootstrap,
        workdir,
        ACTIVITYLOG_API_KEYS=f"{KA}={partner_a},{KB}={partner_b},{KOPS}=*",
        ACTIVITYLOG_CONSUMER_GROUP=f"g-audit-{tag}",
    )
    ids = _seed(kafka_bootstrap, partner_a, partner_b)
    # The CLI on the store directly (no server yet): an all-partners export.
    out = workdir / "direct.jsonl"
    done = _cli(serve.env, "export", "--format", "jsonl", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "export audit event lost" not in done.stderr
    serve.start()
    try:
        yield Audited(serve, partner_a, partner_b, ids, _manifest_id(out), workdir)
    finally:
        serve.stop()


def _export_activities(serve: ServeProcess, key: str) -> dict[str, dict[str, Any]]:
    """The `export.create` activities a key sees (the most recent month), by export id."""
    response = serve.get("/api/v1/activity", key, action="export.create", limit=1000)
    assert response.status_code == 200, response.text
    return {item["resource_id"]: item for item in response.json()["items"]}


def _wait_for_export(serve: ServeProcess, key: str, export_id: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_until(
        lambda: _export_activities(serve, key).get(export_id),
        60,
        f"the export.create activity of {export_id}",
    )
    return found


def _wait_for_seed(audited: Audited) -> None:
    def stored() -> bool:
        body = audited.serve.get("/api/v1/activity", KA, **NOVEMBER).json()
        return len(body["items"]) >= 3

    wait_until(stored, 60, "the seeded events")


def test_a_direct_cli_export_is_audited_in_the_operators_log(audited: Audited) -> None:
    export_id = audited.cli_direct_export_id
    item = _wait_for_export(audited.serve, KOPS, export_id)
    assert item["partner_id"] == "*"
    assert item["event_id"] == audit_event_id(export_id)
    assert item["partner_user"].startswith("os:")
    assert item["details"]["format"] == "jsonl"
    # No partner key reads the operators' log.
    assert export_id not in _export_activities(audited.serve, KA)
    assert export_id not in _export_activities(audited.serve, KB)


def test_an_http_export_is_audited_for_its_partner_only(audited: Audited) -> None:
    _wait_for_seed(audited)
    serve = audited.serve
    response = serve.get("/api/v1/activity/export", KA, format="csv", lang="fr", **NOVEMBER)
    assert response.status_code == 200, response.text
    export_id = response.headers["X-Activitylog-Export-Id"]
    item = _wait_for_export(serve, KA, export_id)

    assert item["partner_id"] == audited.partner_a
    assert (item["action"], item["status"]) == ("export.create", "succeeded")
    assert item["action_text"] == "Activity log exported: CSV"
    assert (item["customer_id"], item["customer_name"]) == ("", "")
    assert item["scope"] == "partner" and item["subscriptions_url"] is None
    details = item["details"]
    assert details["rows"] == int(response.headers["X-Activity-Rows"]) == 3
    assert (details["format"], details["lang"], details["tz"]) == ("csv", "fr", "UTC")
    manifest = serve.get(f"/api/v1/exports/{export_id}/manifest", KA).json()
    assert details["sha256"] == manifest["sha256"]
    assert item["partner_user"] == manifest["created_by"]

    # Scoped: the other partner sees neither the row nor its detail.
    assert export_id not in _export_activities(serve, KB)
    assert serve.get(f"/api/v1/activity/{item['event_id']}", KB).status_code == 404
    assert serve.get(f"/api/v1/activity/{item['event_id']}", KA).status_code == 200
    # Customer filters never match a row that has no customer.
    for params in ({"customer": "a"}, {"customer_id": "cust-audit"}, {"q": "Audit SA"}):
        listed = serve.get("/api/v1/activity", KA, action="export", **params).json()["items"]
        assert listed == [], params


def test_a_later_export_lists_the_export_with_no_customer(audited: Audited) -> None:
    serve = audited.serve
    first = serve.get("/api/v1/activity/export", KA, format="jsonl", **NOVEMBER)
    export_id = first.headers["X-Activitylog-Export-Id"]
    _wait_for_export(serve, KA, export_id)
    later = serve.get("/api/v1/activity/export", KA, format="csv", action="export.create")
    rows = list(csv.reader(io.StringIO(later.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    audit_rows = [dict(zip(header, row, strict=True)) for row in body]
    mine = [r for r in audit_rows if export_id in r["Additional information"]]
    assert len(mine) == 1
    assert mine[0]["Affected customer"] == ""
    assert mine[0]["Action"] == "Activity log exported: JSONL"


def test_xlsx_and_csv_fr_exports_are_audited_with_their_format(audited: Audited) -> None:
    _wait_for_seed(audited)
    serve = audited.serve
    for fmt in ("xlsx", "csv-fr"):
        response = serve.get("/api/v1/activity/export", KA, format=fmt, **NOVEMBER)
        assert response.status_code == 200, response.text
        export_id = response.headers["X-Activitylog-Export-Id"]
        item = _wait_for_export(serve, KA, export_id)
        assert item["action_text"] == f"Activity log exported: {fmt.upper()}"
        details = item["details"]
        assert (details["format"], details["rows"]) == (fmt, 3)
        manifest = serve.get(f"/api/v1/exports/{export_id}/manifest", KA).json()
        assert (manifest["rows"], manifest["sha256"]) == (3, details["sha256"])


def test_a_cli_export_through_the_server_is_audited(audited: Audited) -> None:
    out = audited.workdir / "via-server.parquet"
    env = audited.serve.env | {"ACTIVITYLOG_API_KEY": KA}
    done = _cli(env, "export", "--format", "parquet", "-o", str(out), "--from", "2026-11-01")
    assert done.returncode == 0, done.stderr
    export_id = _manifest_id(out)
    item = _wait_for_export(audited.serve, KA, export_id)
    assert item["partner_id"] == audited.partner_a
    assert item["details"]["format"] == "parquet"
    assert export_id not in _export_activities(audited.serve, KB)


def test_an_export_job_is_audited(audited: Audited) -> None:
    serve = audited.serve
    import httpx

    started = httpx.post(
        f"{serve.url}/api/v1/exports",
        params={"format": "csv", **NOVEMBER},
        headers={"Authorization": f"Bearer {KA}"},
        timeout=30,
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    wait_until(
        lambda: serve.get(f"/api/v1/exports/{job_id}", KA).json()["state"] == "done",
        60,
        f"job {job_id} done",
    )
    item = _wait_for_export(serve, KA, job_id)
    assert (
        item["details"]["rows"] == serve.get(f"/api/v1/exports/{job_id}", KA).json()["rows_written"]
    )
    assert job_id not in _export_activities(serve, KB)


def test_the_detail_shows_the_lifecycle_of_one_partner_and_the_changed_fields(
    audited: Audited,
) -> None:
    _wait_for_seed(audited)
    serve, ids = audited.serve, audited.ids
    detail = serve.get(f"/api/v1/activity/{ids['completed']}", KA).json()
    lifecycle = detail["lifecycle"]
    assert lifecycle["correlation_id"] == ids["correlation_id"]
    assert [(s["event_id"], s["status"], s["current"]) for s in lifecycle["steps"]] == [
        (ids["placed"], "placed", False),
        (ids["completed"], "completed", True),
    ]  # partner B's event under the same correlation id is not part of it
    assert lifecycle["steps"][0]["occurred_at"] == "2026-11-10T09:00:00.000Z"
    assert detail["changes"] is None  # an order has no old/new details

    change = serve.get(f"/api/v1/activity/{ids['change']}", KA).json()
    assert change["lifecycle"] is None  # no correlation id
    assert {c["field"]: (c["old"], c["new"]) for c in change["changes"]} == {
        "quantity": (5, 8),
        "billing.cycle": ("monthly", "annual"),
    }
    other = serve.get(f"/api/v1/activity/{ids['other']}", KB).json()
    assert [s["event_id"] for s in other["lifecycle"]["steps"]] == [ids["other"]]


def test_an_audit_record_kafka_cannot_take_is_logged_as_lost_without_blocking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Kafka down (nothing listens): the export's call returns before the audit's verdict."""
    down = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    audit = export_audit(down, source="test", retry_seconds=3.0)
    manifest = {
        "export_id": "exp_brokerdown",
        "partner_id": "ptn-x",
        "created_at": "2026-11-27T10:00:00.000Z",
        "created_by": "key:abc",
        "format": "csv",
        "rows": 1,
    }
    with caplog.at_level(logging.ERROR, logger="query.manifests.audit"):
        audit.export_finished(manifest)
        # Neither published nor given up yet (that takes 3 s of failed attempts): the
        # download did not wait for the broker's answer.
        assert (audit.published, audit.lost) == (0, 0)
        audit.close(timeout=6.0)
    assert (audit.published, audit.lost) == (0, 1)
    line = next(r.getMessage() for r in caplog.records if "audit event lost" in r.getMessage())
    assert "export_id=exp_brokerdown" in line
    assert '"action":"export.create"' in line  # the whole event, ready to publish again
