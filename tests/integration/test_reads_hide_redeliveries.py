"""Every read shows a redelivered event once, while its copies sit in unmerged parts.

The whole data set is inserted twice, each time in parts of its own, with merges
stopped: the store holds every event twice, as after a worker killed -9 before
its commit, until a merge collapses them. The page, one record, its lifecycle,
a customer's subscriptions, every export format and its row count must each show
every event once. The oracle is plain SQL here (`uniqExact`, `DISTINCT`), never
the reads under test.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from common.settings import Settings
from common.store import Store
from query.http.app import create_api
from schemas.activity import ACTIVITY_TABLE
from schemas.migrate import open_migrated
from schemas.tables import (
    BY_CORRELATION_TABLE,
    BY_CUSTOMER_TABLE,
    BY_EVENT_TABLE,
    RECORDS_TABLE,
)
from tests.fixtures.activity import KEYS, NOW, dataset, insert

YEAR = {"from": "2026-01-01", "to": "2026-12-31"}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, TestClient]]:
    store = open_migrated(f"chdb://{tmp_path_factory.mktemp('replayed') / 'ch'}")
    try:
        paths = (BY_EVENT_TABLE, BY_CUSTOMER_TABLE, RECORDS_TABLE, BY_CORRELATION_TABLE)
        for table in (ACTIVITY_TABLE, *paths):
            store.command(f"SYSTEM STOP MERGES {table}")
        insert(store, dataset())
        insert(store, dataset())  # the same events again: a replayed batch
        app = create_api(store, Settings(api_keys=KEYS), now=lambda: NOW)
        with TestClient(app) as client:
            yield store, client
    finally:
        store.close()


def _oracle(store: Store, partner: str) -> list[str]:
    """The partner's distinct event ids in 2026: what every read must show, once each."""
    where = "occurred_at >= {a:DateTime64(3)} AND occurred_at < {b:DateTime64(3)}"
    if partner != "*":
        where += " AND partner_id = {p:String}"
    rows = store.query_rows(
        f"SELECT DISTINCT event_id FROM {ACTIVITY_TABLE} WHERE {where}",  # noqa: S608
        {"a": datetime(2026, 1, 1), "b": datetime(2027, 1, 1), "p": partner},
    )
    return sorted(r[0] for r in rows)


def _get(client: TestClient, key: str, path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, (path, response.text)
    return response


def test_the_store_really_holds_each_event_twice(replayed: tuple[Store, TestClient]) -> None:
    store, _ = replayed
    for table in (ACTIVITY_TABLE, RECORDS_TABLE):
        [(raw, unique)] = store.query_rows(f"SELECT count(), uniqExact(event_id) FROM {table}")  # noqa: S608
        assert raw == 2 * unique > 0, table


@pytest.mark.parametrize("key", sorted(KEYS))
def test_pages_and_exports_show_each_event_once(
    replayed: tuple[Store, TestClient], key: str
) -> None:
    store, client = replayed
    expected = _oracle(store, KEYS[key])
    assert expected
    page = _get(client, key, "/api/v1/activity", limit=1000, **YEAR).json()
    assert sorted(item["event_id"] for item in page["items"]) == expected
    for fmt in ("csv", "jsonl", "parquet"):
        response = _get(client, key, "/api/v1/activity/export", format=fmt, **YEAR)
        assert int(response.headers["x-activity-rows"]) == len(expected), fmt
        if fmt == "jsonl":
            ids = [orjson.loads(line)["event_id"] for line in response.content.splitlines()]
            assert sorted(ids) == expected
        elif fmt == "parquet":
            table = pq.read_table(io.BytesIO(response.content))
            assert sorted(table.column("event_id").to_pylist()) == expected
        else:
            text = response.content.decode("utf-8-sig")
            assert len(list(csv.reader(io.StringIO(text, newline="")))) == len(expected) + 1


def test_a_record_its_lifecycle_and_subscriptions_show_each_event_once(
    replayed: tuple[Store, TestClient],
) -> None:
    store, client = replayed
    steps = customers = 0
    for event_id in _oracle(store, "*"):
        record = _get(client, "key-admin", f"/api/v1/activity/{event_id}").json()
        assert record["event_id"] == event_id
        if record["lifecycle"]:
            ids = [s["event_id"] for s in record["lifecycle"]["steps"]]
            assert len(ids) == len(set(ids)), ids
            steps += len(ids)
    for partner_key in ("key-a", "key-b"):
        for customer_id in {
            r[0]
            for r in store.query_rows(
                f"SELECT DISTINCT customer_id FROM {ACTIVITY_TABLE} "  # noqa: S608
                "WHERE partner_id = {p:String} AND customer_id != ''",
                {"p": KEYS[partner_key]},
            )
        }:
            body = _get(
                client, partner_key, f"/api/v1/customers/{customer_id}/subscriptions"
            ).json()
            subs = [item["subscription_id"] for item in body["items"]]
            assert len(subs) == len(set(subs)), (customer_id, subs)
            customers += bool(subs)
    # The data set has orders with lifecycles and customers with subscriptions.
    assert steps > 1 and customers > 0
