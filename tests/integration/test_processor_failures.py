"""The worker under failure, on the real broker and real chDB (issue 4, "Done when").

* kill -9 in the middle of batches, repeated, while events stream in: after
  the last restart, stored unique events == published unique events and no
  event shows twice (through the API, which reads with FINAL, and in the
  store itself once the process is gone);
* ClickHouse unavailable: the store's directory is a small tmpfs filled up,
  so inserts fail with ClickHouse's own disk error; the worker backs off,
  and after the filler is removed it catches up, losing nothing;
* SIGTERM: the process exits 0 with every stored event's offset committed.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from kafka import KafkaProducer

from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.capabilities import missing_root
from tests.fixtures.events import valid_order, valid_partner_action
from tests.fixtures.serve import (
    ServeProcess,
    SmallTmpfs,
    TmpfsUnavailable,
    committed_and_end_offsets,
    fill_until_full,
    store_counts,
    wait_until,
)

RANGE = {"from": "2026-10-01", "to": "2026-12-31"}
# The worker's line for each batch it stored, with the rows inserted.
_BATCH_ROWS = re.compile(r"event=batch_stored events=\d+ rows=(\d+)")


def _encoded(partner: str, n: int) -> list[tuple[str, bytes, bytes]]:
    """`n` valid events of `partner`, a quarter of them orders, as (topic, key, value)."""
    out: list[tuple[str, bytes, bytes]] = []
    for i in range(n):
        common = {
            "event_id": str(uuid.uuid4()),
            "partner_id": partner,
            "customer_id": f"cust-{i % 7}",
            "occurred_at": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
        }
        if i % 4 == 0:
            topic, event = ORDERS_TOPIC, valid_order(**common, order_id=f"ord-{i}")
        else:
            topic, event = PARTNER_ACTIONS_TOPIC, valid_partner_action(**common)
        out.append((topic, str(common["customer_id"]).encode(), orjson.dumps(event)))
    return out


def _send(bootstrap: str, items: list[tuple[str, bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [producer.send(t, key=k, value=v) for t, k, v in items]
        producer.flush(60)
        for f in futures:
            f.get(timeout=60)
    finally:
        producer.close()


def _count(serve: ServeProcess, key: str) -> int:
    """Rows visible to readers, page by page.

    Pages, not an export: every export is itself an activity (`export.create`,
    dated now), which would add rows to the partner's store counts.
    """
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {**RANGE, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        try:
            response = serve.get("/api/v1/activity", key, **params)
        except httpx.HTTPError:
            return -1
        assert response.status_code == 200, response.text
        body = response.json()
        total += len(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return total


def _env(partner: str, key: str, **extra: str) -> dict[str, str]:
    return {
        "ACTIVITYLOG_API_KEYS": f"{key}={partner}",
        "ACTIVITYLOG_CONSUMER_GROUP": f"g-{partner}",
        **extra,
    }


def test_kill_9_mid_batch_repeatedly_loses_and_duplicates_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    env = _env(
        partner,
        "k",
        ACTIVITYLOG_BATCH_MAX_EVENTS="400",
        ACTIVITYLOG_BATCH_MAX_SECONDS="0.3",
        # The killed process stays a group member until its session times out.
        ACTIVITYLOG_KAFKA_SESSION_TIMEOUT="6",
    )
    serve = ServeProcess(kafka_bootstrap, tmp_path, **env).start()

    # Events keep arriving, chunk after paced chunk, until the last kill is done and one
    # chunk more: every kill strikes while events are streaming, however slow the machine.
    events: list[tuple[str, bytes, bytes]] = []
    kills_done = threading.Event()
    sent_all = threading.Event()

    def publish() -> None:
        while True:
            last = kills_done.is_set()
            chunk = _encoded(partner, 100)
            _send(kafka_bootstrap, chunk)
            events.extend(chunk)
            if last:
                break
            time.sleep(0.1)  # pacing only, not synchronisation
        sent_all.set()

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        seen = 0
        for round_ in range(4):
            # Kill once more rows are stored than at the previous kill: mid-stream.
            target = seen + 300
            seen = wait_until(
                lambda target=target, s=serve: (c := _count(s, "k")) >= target and c,
                90,
                f"{target} rows before kill {round_ + 1}",
                every=0.05,
            )
            assert not sent_all.is_set()
            assert serve.stop(signal.SIGKILL) == -signal.SIGKILL
            assert serve.logged("fast_consumer=True")
            serve = ServeProcess(kafka_bootstrap, tmp_path, **env).start()
        kills_done.set()
        publisher.join(120)
        assert sent_all.is_set()
        wait_until(lambda: _count(serve, "k") >= len(events), 120, "every event stored")
        # Still exactly the published events once the stream has settled.
        assert _count(serve, "k") == len(events)
    finally:
        kills_done.set()
        assert serve.stop() == 0, serve.log()

    counts = store_counts(tmp_path / "clickhouse", partner)
    published = sorted(orjson.loads(v)["event_id"] for _t, _k, v in events)
    assert counts["final"] == counts["unique"] == len(published)
    assert counts["ids"] == published
    # A replay happened: the runs together inserted more rows than the store holds once
    # deduplicated (the log holds every run's batches; the group read the shared topics
    # from the start, so both sides count the other tests' events as well). Without it,
    # "nothing twice" above would hold trivially.
    inserted = sum(int(n) for n in _BATCH_ROWS.findall(serve.log_path.read_text()))
    assert inserted > store_counts(tmp_path / "clickhouse")["final"], inserted


def _small_tmpfs(directory: Path, megabytes: int) -> SmallTmpfs:
    """Mount a tmpfs of `megabytes` on `directory` (root only: fails unless opted out)."""
    try:
        return SmallTmpfs(directory, megabytes)
    except TmpfsUnavailable as exc:
        missing_root(str(exc))


def _metric(serve: ServeProcess, name: str) -> float:
    text = serve.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_clickhouse_out_of_space_backs_off_and_catches_up_after(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    events = _encoded(partner, 500)
    with _small_tmpfs(tmp_path / "clickhouse", 96) as store_dir:
        serve = ServeProcess(kafka_bootstrap, tmp_path, **_env(partner, "k")).start()
        try:
            # Let the worker catch up with whatever the shared topics already hold.
            wait_until(lambda: serve.logged("event=worker_started"), 60, "worker started")
            filler = fill_until_full(store_dir)
            _send(kafka_bootstrap, events)
            wait_until(
                lambda: serve.logged("event=insert_failed"), 60, "an insert failing for space"
            )
            assert _count(serve, "k") < len(events)
            assert _metric(serve, "activitylog_insert_failures_total") >= 1
            filler.unlink()
            wait_until(lambda: _count(serve, "k") >= len(events), 120, "catch-up after space")
            assert _count(serve, "k") == len(events)
            assert serve.logged("event=insert_recovered")
        finally:
            assert serve.stop() == 0, serve.log()


def test_sigterm_exits_0_with_every_stored_offset_committed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    env = _env(partner, "k")
    events = _encoded(partner, 300)
    serve = ServeProcess(kafka_bootstrap, tmp_path, **env).start()
    try:
        _send(kafka_bootstrap, events)
        wait_until(lambda: _count(serve, "k") >= len(events), 60, "every event stored")
    finally:
        assert serve.stop(signal.SIGTERM) == 0, serve.log()
    committed, ends = committed_and_end_offsets(kafka_bootstrap, f"g-{partner}")
    # Our events were the last on the topics when we stopped: every offset is committed.
    assert ends and all(committed.get(tp) == end for tp, end in ends.items()), (committed, ends)
    assert store_counts(tmp_path / "clickhouse", partner)["final"] == len(events)


def test_worker_resumes_after_a_broker_restart(tmp_path: Path) -> None:
    """A broker of its own (stopping the session's would disturb other tests)."""
    from activitylog.devstack.kafka import KafkaStack
    from common.net import free_port
    from common.settings import Settings

    stack_settings = Settings.from_env().with_overrides(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=tmp_path / "kafka-state"
    )
    stack = KafkaStack(stack_settings)
    stack.up(timeout=180)
    bootstrap = stack_settings.kafka_bootstrap
    partner = f"ptn-{uuid.uuid4().hex[:8]}"
    events = _encoded(partner, 400)
    serve: ServeProcess | None = None
    try:
        serve = ServeProcess(bootstrap, tmp_path / "serve", **_env(partner, "k")).start()
        _send(bootstrap, events[:200])
        wait_until(lambda: _count(serve, "k") >= 200, 60, "the first 200 rows")
        assert stack.down()
        # Down for several fetch and commit cycles: the process must stay up throughout.
        down_until = time.monotonic() + 8
        while time.monotonic() < down_until:
            assert serve.proc is not None and serve.proc.poll() is None, serve.log()
            time.sleep(0.5)
        stack.up(timeout=180)
        _send(bootstrap, events[200:])
        wait_until(lambda: _count(serve, "k") >= 400, 180, "all 400 rows after the restart")
        assert _count(serve, "k") == 400
    finally:
        try:
            if serve is not None:
                assert serve.stop() == 0, serve.log()
        finally:
            stack.down()
