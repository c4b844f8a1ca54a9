"""The worker's fast path is wired in, pinned to the Faust it was written for, and equivalent.

No broker and no store: the Faust app is built but never started. That the
fast consumer loses nothing on a real broker is checked by
tests/integration/test_processor_failures.py (kill -9 with it active).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import faust
import orjson
from faust.types import TP

from common.settings import Settings
from common.store import Store
from processors import fast_consumer
from processors.batch import Consumed, process_batch, to_columns
from processors.normalize import line_item_json
from processors.worker import IngestWorker
from schemas.activity import ACTIVITY_COLUMN_NAMES
from schemas.events import Order, validate_event
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import INGESTED_AT, valid_line_item, valid_order, valid_partner_action


def _worker(tmp_path: Path) -> IngestWorker:
    settings = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    return IngestWorker(settings, cast(Store, None))  # the store is only used once running


def test_the_installed_faust_is_the_one_the_override_was_written_for() -> None:
    assert fast_consumer.fast_path_supported()
    assert not fast_consumer.fast_path_supported("0.16.0")
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    pinned = re.search(r'"faust-streaming==([^"]+)"', pyproject)
    assert pinned and pinned.group(1) in fast_consumer.SUPPORTED_FAUST_VERSIONS


def test_the_worker_app_uses_the_fast_consumer_and_the_measured_settings(tmp_path: Path) -> None:
    worker = _worker(tmp_path)
    app: Any = worker.app
    assert worker.fast_path
    assert isinstance(app.transport, fast_consumer.FastTransport)
    assert app.transport.Consumer is fast_consumer.FastConsumer
    assert issubclass(fast_consumer.FastConsumer, faust.transport.drivers.aiokafka.Consumer)
    assert app.conf.Monitor is fast_consumer.QuietMonitor
    assert app.conf.Stream is fast_consumer.BatchStream
    assert app.conf.cython_optimizations is True
    assert app.conf.stream_buffer_maxsize >= 65_536
    assert app.conf.consumer_max_fetch_size >= 8 * 1024 * 1024


def test_the_quiet_monitor_keeps_no_per_event_state() -> None:
    monitor = fast_consumer.QuietMonitor()
    assert monitor.on_stream_event_in(cast(Any, None), 1, None, None) is None
    monitor.track_tp_end_offset(cast(Any, None), 10)
    assert not monitor.tp_end_offsets


def test_line_item_json_equals_pydantic_dump_with_unknown_fields_kept() -> None:
    raw = orjson.dumps(
        valid_order(
            line_items=[
                valid_line_item(x_discount="5%", sku=None),
                valid_line_item(product_name="Other", quantity=9),
            ]
        )
    )
    order = validate_event(ORDERS_TOPIC, raw)
    assert isinstance(order, Order)
    for item in order.line_items:
        assert line_item_json(item) == item.model_dump(mode="json", exclude_none=True)
    assert line_item_json(order.line_items[0])["x_discount"] == "5%"


def test_positional_columns_equal_columns_by_name() -> None:
    batch = [
        Consumed(PARTNER_ACTIONS_TOPIC, 0, i, None, orjson.dumps(valid_partner_action()))
        for i in range(5)
    ] + [Consumed(ORDERS_TOPIC, 1, 9, None, orjson.dumps(valid_order()))]
    rows = process_batch(batch, INGESTED_AT, 1_000_000).rows
    assert all(tuple(row) == ACTIVITY_COLUMN_NAMES for row in rows)
    by_name = [[row[name] for row in rows] for name in ACTIVITY_COLUMN_NAMES]  # type: ignore[literal-required]
    assert to_columns(rows) == by_name
    # Rows whose keys are in another order still land in the right columns.
    shuffled = [dict(reversed(list(row.items()))) for row in rows]
    assert to_columns(cast(Any, shuffled)) == by_name
    assert to_columns([]) == [[] for _ in ACTIVITY_COLUMN_NAMES]


def test_the_quiet_monitor_marks_each_batch_partition_as_processing() -> None:
    """Faust's liveness check reads `stream_inbound_time`: without it, false ERROR lines."""
    monitor = fast_consumer.QuietMonitor()
    tp0, tp1 = TP("activity.orders.v1", 0), TP("activity.orders.v1", 1)
    batch = [SimpleNamespace(message=SimpleNamespace(tp=tp)) for tp in (tp0, tp1, tp0)]
    before = time.monotonic()
    monitor.batch_in(batch)
    assert set(monitor.stream_inbound_time) == {tp0, tp1}
    assert all(t >= before for t in monitor.stream_inbound_time.values())
