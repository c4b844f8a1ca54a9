"""The export audit's pure parts: the `export.create` events, and its queue's promises.

The publishing thread is exercised here with a scripted stand-in publisher
(pure logic: retry, give up, never block the caller); the same observer
against a real broker, and against none, is in
tests/integration/test_export_audit.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from common.errors import BrokerUnavailable
from query.manifests.audit import ExportAudit, audit_event_id, failed_event, finished_event
from query.manifests.model import ExportRequestInfo
from schemas.events import PartnerAction, validate_event
from schemas.topics import PARTNER_ACTIONS_TOPIC

MANIFEST: dict[str, Any] = {
    "export_id": "exp_abcdefghijklmnopqrstuvwxyz",
    "partner_id": "ptn-a",
    "created_at": "2026-11-27T10:00:00.000Z",
    "created_by": "key:k-3f2a",
    "from": "2026-11-01T00:00:00.000Z",
    "to": "2026-12-01T00:00:00.000Z",
    "tz": "Europe/Paris",
    "filters": {"customer": "contoso"},
    "format": "csv",
    "lang": "fr",
    "columns": ["Date (UTC)", "Client affecté"],
    "rows": 42,
    "first_event_at": "2026-11-02T08:00:00.000Z",
    "last_event_at": "2026-11-29T18:00:00.000Z",
    "sha256": "ab" * 32,
    "previous": None,
}
INFO = ExportRequestInfo(
    partner_id="ptn-a",
    created_by="cli:ana",
    from_="2026-11-01T00:00:00.000Z",
    to="2026-12-01T00:00:00.000Z",
    tz="UTC",
    filters={"action": "order"},
    format="parquet",
    lang="en",
    columns=["occurred_at"],
)


def test_a_finished_export_is_a_valid_partner_level_export_create() -> None:
    event = finished_event(MANIFEST, source="activitylog-api")
    model = validate_event(PARTNER_ACTIONS_TOPIC, event)
    assert isinstance(model, PartnerAction)
    assert model.partner_level and model.kafka_key == "ptn-a"
    assert (model.action, model.outcome, model.partner_user) == (
        "export.create",
        "succeeded",
        "key:k-3f2a",
    )
    assert model.resource_id == model.correlation_id == MANIFEST["export_id"]
    assert model.details == {
        "export_id": MANIFEST["export_id"],
        "from": MANIFEST["from"],
        "to": MANIFEST["to"],
        "tz": "Europe/Paris",
        "filters": {"customer": "contoso"},
        "format": "csv",
        "lang": "fr",
        "rows": 42,
        "first_event_at": MANIFEST["first_event_at"],
        "last_event_at": MANIFEST["last_event_at"],
        "sha256": "ab" * 32,
    }
    assert event["occurred_at"] == MANIFEST["created_at"]


def test_the_event_id_follows_the_export_id_so_a_republished_record_is_one_activity() -> None:
    first = finished_event(MANIFEST, source="a")["event_id"]
    assert first == finished_event(dict(MANIFEST), source="b")["event_id"]
    assert first == audit_event_id(MANIFEST["export_id"])
    assert first != audit_event_id("exp_other")


def test_an_all_partners_export_is_recorded_in_the_operators_log() -> None:
    event = finished_event({**MANIFEST, "partner_id": "*"}, source="cli")
    assert event["partner_id"] == "*"
    assert validate_event(PARTNER_ACTIONS_TOPIC, event).kafka_key == "*"


@pytest.mark.parametrize("cancelled", [False, True])
def test_a_failed_or_cancelled_export_is_recorded_with_its_reason(cancelled: bool) -> None:
    now = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    event = failed_event(
        "exp_x", INFO, 1200, "client went away", cancelled=cancelled, source="api", now=now
    )
    model = validate_event(PARTNER_ACTIONS_TOPIC, event)
    assert model.outcome == "failed"  # type: ignore[union-attr]
    assert event["occurred_at"] == "2026-11-27T09:30:00.000Z"
    assert event["details"]["reason"] == "client went away"
    assert event["details"]["cancelled"] is cancelled
    assert event["details"]["rows_written"] == 1200
    assert event["partner_user"] == "cli:ana"


class ScriptedPublisher:
    """Stands in for ActivityPublisher: fails `failures` times, then acknowledges."""

    def __init__(self, failures: int, sent: list[Mapping[str, Any]]) -> None:
        self.failures = failures
        self.sent = sent

    def publish(self, topic: str, event: Mapping[str, Any]) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise BrokerUnavailable("no broker")
        self.sent.append(event)
        return self

    def wait(self, timeout: float = 30.0) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


def test_the_observer_returns_at_once_and_retries_until_published() -> None:
    sent: list[Mapping[str, Any]] = []
    failures = [2]
    opened = []
    returned = threading.Event()
    waited_in_vain: list[bool] = []

    def factory() -> ScriptedPublisher:
        # Kafka is reached only once the caller is back: had the caller waited for
        # Kafka, this wait would end in vain (by its timeout) and say so.
        if not returned.wait(10):
            waited_in_vain.append(True)
        opened.append(1)
        publisher = ScriptedPublisher(failures[0], sent)
        failures[0] = 0
        return publisher

    audit = ExportAudit(factory, source="test", retry_seconds=30)
    audit.export_finished(MANIFEST)
    returned.set()
    audit.close(timeout=10)
    assert not waited_in_vain, "the caller waited for Kafka"
    assert [e["resource_id"] for e in sent] == [MANIFEST["export_id"]]
    assert (audit.published, audit.lost) == (1, 0)
    assert len(opened) == 2  # a publisher that failed is replaced


def test_an_event_kafka_never_takes_is_logged_as_lost_with_its_export_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def factory() -> ScriptedPublisher:
        raise BrokerUnavailable("cannot reach Kafka at unused:9")

    audit = ExportAudit(factory, source="test", retry_seconds=0.3)
    with caplog.at_level(logging.ERROR, logger="query.manifests.audit"):
        audit.export_failed("exp_lost", INFO, 0, "store down", cancelled=False)
        audit.close(timeout=5)
    assert (audit.published, audit.lost) == (0, 1)
    line = next(r.getMessage() for r in caplog.records if "lost" in r.getMessage())
    assert "export_id=exp_lost" in line and "cannot reach Kafka" in line
    assert '"event_id":"' + audit_event_id("exp_lost") + '"' in line


def test_close_gives_up_on_a_stuck_broker_within_its_deadline() -> None:
    release, in_call, call_returned = threading.Event(), threading.Event(), threading.Event()

    class Stuck(ScriptedPublisher):
        def publish(self, topic: str, event: Mapping[str, Any]) -> Any:
            in_call.set()
            release.wait(30)  # a Kafka call that comes back only when the test says
            call_returned.set()
            raise BrokerUnavailable("timed out")

    audit = ExportAudit(lambda: Stuck(0, []), source="test", retry_seconds=60)
    for n in range(3):
        audit.export_finished({**MANIFEST, "export_id": f"exp_{n}"})
    assert in_call.wait(5)
    audit.close(timeout=0.5)
    # Back while the Kafka call is still blocked: close did not wait for the broker.
    assert not call_returned.is_set()
    release.set()
    assert (audit.published, audit.lost) == (0, 3)
    audit.export_finished(MANIFEST)  # after close: logged as lost, never raised
    assert audit.lost == 4


def test_a_full_queue_loses_the_newest_record_rather_than_block_the_export() -> None:
    gate, in_hand = threading.Event(), threading.Event()

    first_published = threading.Event()

    class Slow(ScriptedPublisher):
        def publish(self, topic: str, event: Mapping[str, Any]) -> Any:
            in_hand.set()
            gate.wait(30)
            receipt = super().publish(topic, event)
            first_published.set()
            return receipt

    sent: list[Mapping[str, Any]] = []
    audit = ExportAudit(lambda: Slow(0, sent), source="t", queue_size=1)
    audit.export_finished({**MANIFEST, "export_id": "exp_0"})
    assert in_hand.wait(5)  # the thread holds the first one
    for n in range(1, 4):  # one queued, two over the bound
        audit.export_finished({**MANIFEST, "export_id": f"exp_{n}"})
    # All four calls came back while the first record was still held: none waited for room.
    assert not first_published.is_set()
    gate.set()
    audit.close(timeout=5)
    assert audit.published == 2 and audit.lost == 2
    assert [e["resource_id"] for e in sent] == ["exp_0", "exp_1"]


def test_a_broken_manifest_never_reaches_the_downloader(caplog: pytest.LogCaptureFixture) -> None:
    audit = ExportAudit(lambda: ScriptedPublisher(0, []), source="t")
    with caplog.at_level(logging.ERROR, logger="query.manifests.audit"):
        audit.export_finished({"no": "export id"})
    audit.close(timeout=1)
    assert any("cannot record export" in r.getMessage() for r in caplog.records)


def test_a_kafka_call_that_hangs_past_close_is_logged_at_once_and_not_counted_twice(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import query.manifests.audit as audit_module

    monkeypatch.setattr(audit_module, "ABANDON_GRACE_SECONDS", 0.2)
    gate, in_hand = threading.Event(), threading.Event()
    sent: list[Mapping[str, Any]] = []

    call_returned = threading.Event()

    class Hanging(ScriptedPublisher):
        def publish(self, topic: str, event: Mapping[str, Any]) -> Any:
            in_hand.set()
            gate.wait(10)  # a Kafka client call that does not come back in time
            call_returned.set()
            return super().publish(topic, event)

    audit = ExportAudit(lambda: Hanging(0, sent), source="t")
    audit.export_finished(MANIFEST)
    assert in_hand.wait(5)
    with caplog.at_level(logging.WARNING, logger="query.manifests.audit"):
        audit.close(timeout=0.2)
        assert not call_returned.is_set()  # close came back while the call still hung
        assert (audit.published, audit.lost) == (0, 1)
        gate.set()  # it gets through after all: a warning, still counted once
        audit._thread.join(5)
    assert (audit.published, audit.lost) == (0, 1) and len(sent) == 1
    assert any("published after all" in r.getMessage() for r in caplog.records)
