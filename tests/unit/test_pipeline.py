"""The pipeline's order, driven with in-memory fakes: no Faust, no Kafka, no store.

Every fake writes to one journal, so each test reads the order in which the
pipeline inserted, acknowledged and dead-lettered. The insert's own retry is
the product's `BatchWriter` over a store that fails on demand.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from common.errors import StoreUnavailable
from common.retry import Backoff
from processors.batch import Consumed
from processors.pipeline import Ack, Pipeline
from processors.stored import read_stored
from processors.writer import BatchWriter
from schemas.activity import ActivityRow
from schemas.dead_letter import REASON, SOURCE_OFFSET
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import valid_partner_action

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BATCH_SIZE = 3  # batch k holds offsets 10k .. 10k+2


def _batch(k: int, *, bad: bool = False) -> list[Consumed]:
    """Batch `k`: valid partner actions, the last one not JSON when `bad`."""
    batch = [
        Consumed(PARTNER_ACTIONS_TOPIC, 0, 10 * k + i, b"ptn", orjson.dumps(valid_partner_action()))
        for i in range(BATCH_SIZE)
    ]
    if bad:
        batch[-1] = batch[-1]._replace(value=b"not json")
    return batch


def _batch_of(rows: Sequence[ActivityRow]) -> int:
    return rows[0]["kafka_offset"] // 10


class Journal(list[str]):
    """What happened, in order."""

    def ack(self, k: int) -> Ack:
        return lambda: self.append(f"ack {k}")


class GatedWriter:
    """A `RowWriter` whose insert of batch k returns only once `release(k)` is called."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.gates: dict[int, asyncio.Event] = {}
        self.rows: dict[int, list[int]] = {}

    def gate(self, k: int) -> asyncio.Event:
        return self.gates.setdefault(k, asyncio.Event())

    def release(self, k: int) -> None:
        self.gate(k).set()

    async def write(self, rows: Sequence[ActivityRow], stopping: asyncio.Event) -> bool:
        k = _batch_of(rows)
        self.journal.append(f"insert {k}")
        await self.gate(k).wait()
        self.rows[k] = [row["kafka_offset"] for row in rows]
        self.journal.append(f"stored {k}")
        return True


class DeadLetters:
    """A `DeadLetterSink` that refuses the first `failures` sends (or every one: -1)."""

    def __init__(self, journal: Journal, failures: int = 0) -> None:
        self.journal = journal
        self.failures = failures
        self.sent: list[dict[str, bytes]] = []
        self.delivered = asyncio.Event()
        self.refused = asyncio.Event()

    async def send(
        self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        offset = int(dict(headers)[SOURCE_OFFSET])
        if self.failures:
            self.failures -= 1
            self.journal.append(f"dead-letter refused {offset}")
            self.refused.set()
            raise ConnectionError("broker restarting")
        self.sent.append(dict(headers))
        self.journal.append(f"dead-letter {offset}")
        self.delivered.set()


class FlakyStore:
    """A `ColumnStore` down for its first `failures` inserts (or for good: -1)."""

    def __init__(self, journal: Journal, failures: int) -> None:
        self.journal = journal
        self.failures = failures
        self.calls = 0
        self.failed_once = threading.Event()

    def insert_columns(
        self, table: str, columns: Sequence[Sequence[Any]], column_names: Sequence[str]
    ) -> None:
        self.calls += 1
        offsets = columns[list(column_names).index("kafka_offset")]
        self.journal.append(f"insert attempt {offsets[0] // 10}")
        if self.failures:
            self.failures -= 1
            self.failed_once.set()
            raise StoreUnavailable("store down")
        self.journal.append(f"stored {offsets[0] // 10}")


def _pipeline(writer: Any, dead_letters: Any, stopping: asyncio.Event | None = None) -> Pipeline:
    return Pipeline(
        writer,
        dead_letters,
        stopping or asyncio.Event(),
        max_event_bytes=100_000,
        clock=lambda: NOW,
        dead_letter_backoff=lambda: Backoff(0.001, cap=0.001),
    )


async def _submit_and_drain(pipeline: Pipeline, batch: list[Consumed], ack: Ack) -> None:
    """Hand one batch to the pipeline, then stop it as the worker does."""
    assert await pipeline.submit(batch, ack)
    async with pipeline.drained():
        pass


def _fast_writer(store: FlakyStore) -> BatchWriter:
    return BatchWriter(store, initial_backoff=0.001, max_backoff=0.001)


def test_the_rows_are_inserted_before_the_batch_is_acknowledged() -> None:
    async def scenario() -> tuple[Journal, GatedWriter]:
        journal = Journal()
        writer = GatedWriter(journal)
        writer.release(0)
        pipeline = _pipeline(writer, DeadLetters(journal))
        await _submit_and_drain(pipeline, _batch(0), journal.ack(0))
        assert pipeline.batches == 1
        return journal, writer

    journal, writer = asyncio.run(scenario())
    assert journal == ["insert 0", "stored 0", "ack 0"]
    assert writer.rows == {0: [0, 1, 2]}


def test_the_next_batch_is_prepared_during_an_insert_and_acks_keep_batch_order() -> None:
    async def scenario() -> Journal:
        journal = Journal()
        writer = GatedWriter(journal)
        dead_letters = DeadLetters(journal)
        pipeline = _pipeline(writer, dead_letters)
        assert await pipeline.submit(_batch(0), journal.ack(0))  # returns while 0 is inserted
        second = asyncio.create_task(pipeline.submit(_batch(1, bad=True), journal.ack(1)))
        await dead_letters.delivered.wait()  # batch 1 prepared while batch 0 is inserted
        assert journal == ["insert 0", "dead-letter 12"]
        assert not second.done()  # batch 1 waits for batch 0 to be stored
        writer.release(1)  # batch 1's insert could finish first: it must not start first
        writer.release(0)
        assert await second
        async with pipeline.drained():
            pass
        return journal

    assert asyncio.run(scenario()) == [
        "insert 0",
        "dead-letter 12",
        "stored 0",
        "ack 0",
        "insert 1",
        "stored 1",
        "ack 1",
    ]


def test_a_failing_insert_is_retried_and_nothing_is_acknowledged_meanwhile(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    store = FlakyStore(journal, failures=2)

    pipeline = _pipeline(_fast_writer(store), DeadLetters(journal))
    with caplog.at_level(logging.INFO):
        asyncio.run(_submit_and_drain(pipeline, _batch(0), journal.ack(0)))
    assert journal == [
        "insert attempt 0",
        "insert attempt 0",
        "insert attempt 0",
        "stored 0",
        "ack 0",
    ]
    assert caplog.text.count("event=insert_failed") == 2
    assert "event=insert_recovered rows=3 attempts=3" in caplog.text
    assert "event=batch_stored events=3 rows=3 dead_lettered=0" in caplog.text


def test_dead_letters_are_delivered_before_the_ack_and_a_refused_send_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    dead_letters = DeadLetters(journal, failures=2)

    writer = GatedWriter(journal)
    writer.release(0)
    pipeline = _pipeline(writer, dead_letters)
    with caplog.at_level(logging.INFO):
        asyncio.run(_submit_and_drain(pipeline, _batch(0, bad=True), journal.ack(0)))
    assert journal == [
        "dead-letter refused 2",
        "dead-letter refused 2",
        "dead-letter 2",
        "insert 0",
        "stored 0",
        "ack 0",
    ]
    assert len(dead_letters.sent) == 1 and dead_letters.sent[0][REASON]
    assert caplog.text.count("event=dead_letter_retry") == 2
    assert caplog.text.count("event=dead_lettered") == 1


def test_a_dead_letter_refused_until_the_stop_leaves_its_batch_uninserted_and_unacknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()

    async def scenario() -> bool:
        stopping = asyncio.Event()
        dead_letters = DeadLetters(journal, failures=-1)
        pipeline = Pipeline(
            GatedWriter(journal),
            dead_letters,
            stopping,
            max_event_bytes=100_000,
            dead_letter_backoff=lambda: Backoff(3600.0),  # only the stop ends the wait
        )
        submitted = asyncio.create_task(pipeline.submit(_batch(0, bad=True), journal.ack(0)))
        await dead_letters.refused.wait()
        stopping.set()
        return await submitted

    with caplog.at_level(logging.INFO):
        assert asyncio.run(scenario()) is False
    assert journal == ["dead-letter refused 2"]
    assert "event=stopping unacknowledged=3" in caplog.text


def test_a_stop_during_an_insert_waits_for_it_to_be_stored_and_acknowledged() -> None:
    async def scenario() -> Journal:
        journal = Journal()
        stopping = asyncio.Event()

        class FinishesOnStop(GatedWriter):
            """An insert that is still running when the stop comes, then succeeds."""

            async def write(self, rows: Sequence[ActivityRow], stopping: asyncio.Event) -> bool:
                self.gates[_batch_of(rows)] = stopping
                return await super().write(rows, stopping)

        pipeline = _pipeline(FinishesOnStop(journal), DeadLetters(journal), stopping)
        assert await pipeline.submit(_batch(0), journal.ack(0))
        stopping.set()
        async with pipeline.drained():
            journal.append("drained")
        return journal

    assert asyncio.run(scenario()) == ["insert 0", "stored 0", "ack 0", "drained"]


def test_a_store_down_while_stopping_leaves_the_batch_unacknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    store = FlakyStore(journal, failures=-1)

    async def scenario() -> bool:
        stopping = asyncio.Event()
        pipeline = _pipeline(_fast_writer(store), DeadLetters(journal), stopping)
        assert await pipeline.submit(_batch(0), journal.ack(0))
        second = asyncio.create_task(pipeline.submit(_batch(1), journal.ack(1)))
        assert await asyncio.to_thread(store.failed_once.wait, 30)
        stopping.set()
        accepted = await second
        async with pipeline.drained():
            assert pipeline.batches == 0
        return accepted

    with caplog.at_level(logging.INFO):
        assert asyncio.run(scenario()) is False  # the consumer stops taking batches
    assert "ack 0" not in journal and "ack 1" not in journal
    assert "insert attempt 1" not in journal  # batch 1 never started: 0 was not stored
    assert "event=stopping unacknowledged=3" in caplog.text


def test_at_most_two_batches_are_in_flight() -> None:
    """Each insert is held until the next batch is being prepared: the most overlap allowed."""

    async def scenario() -> tuple[list[int], Journal]:
        journal = Journal()
        prepared = [0]
        acked = [0]
        in_flight: list[int] = []  # batches prepared and not acknowledged, at each prepare
        next_prepared = {k: asyncio.Event() for k in range(6)}

        def clock() -> datetime:  # called once per batch, as it is prepared
            prepared[0] += 1
            in_flight.append(prepared[0] - acked[0])
            if prepared[0] >= 2:
                next_prepared[prepared[0] - 2].set()
            return NOW

        class HeldWriter(GatedWriter):
            def gate(self, k: int) -> asyncio.Event:
                return next_prepared[k]

        def ack(k: int) -> Ack:
            def done() -> None:
                acked[0] += 1
                journal.append(f"ack {k}")

            return done

        pipeline = Pipeline(
            HeldWriter(journal),
            DeadLetters(journal),
            asyncio.Event(),
            max_event_bytes=100_000,
            clock=clock,
        )
        for k in range(6):  # one batch after the other, as the consumer submits them
            assert await pipeline.submit(_batch(k), ack(k))
        next_prepared[5].set()
        async with pipeline.drained():
            pass
        return in_flight, journal

    in_flight, journal = asyncio.run(scenario())
    assert max(in_flight) == 2
    assert [e for e in journal if e.startswith("ack")] == [f"ack {k}" for k in range(6)]


class StoredTopic:
    """A `StoredSink` that refuses its first `failures` sends; journals what it announced."""

    def __init__(self, journal: Journal, failures: int = 0) -> None:
        self.journal = journal
        self.failures = failures
        self.records: list[tuple[bytes, bytes]] = []
        self.refused = asyncio.Event()

    async def send_all(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        offsets = [a["event_id"] for _k, v in records for a in read_stored(v)]
        if self.failures:
            self.failures -= 1
            self.journal.append(f"announce refused {len(offsets)}")
            self.refused.set()
            raise ConnectionError("broker restarting")
        self.records.extend(records)
        self.journal.append(f"announced {len(offsets)}")


def test_the_stored_rows_are_announced_after_the_insert_and_before_the_ack_retried() -> None:
    journal = Journal()
    stored = StoredTopic(journal, failures=1)
    writer = GatedWriter(journal)
    writer.release(0)
    pipeline = Pipeline(
        writer,
        DeadLetters(journal),
        asyncio.Event(),
        max_event_bytes=100_000,
        clock=lambda: NOW,
        dead_letter_backoff=lambda: Backoff(0.001, cap=0.001),
        stored=stored,
    )
    batch = _batch(0, bad=True)
    asyncio.run(_submit_and_drain(pipeline, batch, journal.ack(0)))
    # The bad message is dead-lettered and never announced; the two good ones are, once stored.
    assert journal == [
        "dead-letter 2",
        "insert 0",
        "stored 0",
        "announce refused 2",
        "announced 2",
        "ack 0",
    ]
    good = [orjson.loads(m.value or b"")["event_id"] for m in batch[:2]]
    assert [key for key, _v in stored.records] == [b"partner-001"]  # one record, the partner's
    assert [a["event_id"] for _k, v in stored.records for a in read_stored(v)] == good


def test_an_announcement_refused_until_the_stop_leaves_the_batch_unacknowledged() -> None:
    journal = Journal()

    async def scenario() -> bool:
        stopping = asyncio.Event()
        stored = StoredTopic(journal, failures=-1)
        writer = GatedWriter(journal)
        writer.release(0)
        pipeline = Pipeline(
            writer,
            DeadLetters(journal),
            stopping,
            max_event_bytes=100_000,
            dead_letter_backoff=lambda: Backoff(3600.0),  # only the stop ends the wait
            stored=stored,
        )
        assert await pipeline.submit(_batch(0), journal.ack(0))
        await stored.refused.wait()
        stopping.set()
        async with pipeline.drained():
            return pipeline.batches == 0

    assert asyncio.run(scenario())
    assert journal == ["insert 0", "stored 0", "announce refused 3"]
