"""The HTTP API in-process against a real chDB store: filters, ranges, paging, tenancy, errors.

Rows go in through the real normalizer and the store's columnar insert; the
app is the real FastAPI app behind Starlette's TestClient. No fakes.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from common.settings import Settings
from common.store import Store
from query.http.app import create_api
from schemas.topics import ORDERS_TOPIC
from tests.fixtures.activity import (
    ADMIN,
    BULK,
    CAFE,
    KEYS,
    NOW,
    A,
    B,
    action,
    dataset,
    eid,
    insert,
)


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_api(store, Settings(api_keys=KEYS), now=lambda: NOW)) as test_client:
        yield test_client


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["event_id"] for item in response.json()["items"]]


NOV = {"from": "2026-11-01", "to": "2026-11-30", "limit": 1000}


# -- list: contract, order, every filter


def test_items_carry_the_contract_fields_newest_first(client: TestClient) -> None:
    body = client.get("/api/v1/activity", params=NOV, headers=A).json()
    items = body["items"]
    assert body["next_cursor"] is None
    stamps = [item["occurred_at"] for item in items]
    assert stamps == sorted(stamps, reverse=True)
    assert all(s.endswith("Z") and "T" in s for s in stamps)
    expected = {
        "event_id",
        "occurred_at",
        "partner_id",
        "kind",
        "action",
        "customer_id",
        "customer_name",
        "partner_user",
        "action_text",
        "status",
        "status_text",
        "additional_info",
        "resource_type",
        "resource_id",
        "resource_name",
        "order_id",
        "correlation_id",
        "details",
        "subscriptions_url",
    }
    assert all(expected <= set(item) for item in items)
    cafe = next(i for i in items if i["event_id"] == eid("order-cafe"))
    assert cafe["subscriptions_url"] == "/customers/cust-cafe/subscriptions"
    assert cafe["details"]["line_items"][1]["product_name"] == "Teams Phone Standard"
    assert cafe["customer_name"] == CAFE
    assert {i["partner_id"] for i in items} == {"ptn-a"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"customer_id": "cust-tz"}, ["nov-end", "nov-first"]),
        (
            {"customer": "élodie"},
            ["cancel-pending", "reactivate", "cancel-failed", "suspend", "qty", "order-cafe"],
        ),
        ({"customer": "ZEIT"}, ["nov-end", "nov-first"]),
        ({"action": "subscription.suspend"}, ["suspend"]),
        (
            {"action": "subscription"},
            ["cancel-pending", "reactivate", "cancel-failed", "suspend", "qty"],
        ),
        ({"action": "order.completed"}, ["order-cafe"]),
        ({"partner_user": "-mallory@a.example"}, ["formula"]),
        ({"status": "failed"}, ["formula", "cancel-failed"]),
        ({"status": "in_progress"}, ["cancel-pending"]),
        ({"q": "ord-cafe-1"}, ["order-cafe"]),
        ({"q": "SECOND LINE"}, ["cancel-failed"]),
        ({"q": "user7@contoso"}, ["bulk-7"]),
        (
            {"customer": "contoso", "q": "user1"},
            [f"bulk-{i}" for i in (19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1)],
        ),
        ({"customer_id": "cust-b"}, []),  # another partner's customer: nothing, not an error
    ],
)
def test_every_filter_narrows_the_list(
    client: TestClient, params: dict[str, str], expected: list[str]
) -> None:
    assert ids(client.get("/api/v1/activity", params=NOV | params, headers=A)) == [
        eid(n) for n in expected
    ]


def test_user_text_is_data_not_sql(client: TestClient) -> None:
    for hostile in ("' OR 1=1 --", "x') OR ('1'='1", "\\", "%", "_"):
        response = client.get("/api/v1/activity", params=NOV | {"customer": hostile}, headers=A)
        assert ids(response) == []


# -- ranges and time zones


def test_month_end_follows_the_time_zone(client: TestClient) -> None:
    tz_rows = NOV | {"customer_id": "cust-tz"}
    utc = ids(client.get("/api/v1/activity", params=tz_rows, headers=A))
    paris = ids(client.get("/api/v1/activity", params=tz_rows | {"tz": "Europe/Paris"}, headers=A))
    # UTC November: Nov 1 00:30Z and Nov 30 23:30Z.
    assert utc == [eid("nov-end"), eid("nov-first")]
    # Paris November: Oct 31 23:30Z is Nov 1 00:30 there; Nov 30 23:30Z is already December.
    assert paris == [eid("nov-first"), eid("oct-end")]


def test_rfc3339_bounds_and_the_default_month(client: TestClient) -> None:
    exact = {"from": "2026-11-30T23:30:00Z", "to": "2026-11-30T23:30:00.001Z", "limit": 10}
    assert ids(client.get("/api/v1/activity", params=exact, headers=A)) == [eid("nov-end")]
    # No dates: the 30 days up to the end of today (NOW = Nov 20): Nov 30 is out.
    default = ids(client.get("/api/v1/activity", params={"limit": 1000}, headers=A))
    assert eid("nov-end") not in default and eid("qty") in default


# -- pagination


def test_pages_are_stable_while_rows_keep_arriving(client: TestClient, store: Store) -> None:
    """Walk every page of a range while another thread inserts newer rows and redeliveries."""
    params = {"from": "2026-11-01", "to": "2026-11-30", "customer_id": "cust-bulk", "limit": 4}
    expected = [eid(f"bulk-{i}") for i in reversed(range(BULK))]
    stop = threading.Event()
    inserted: list[int] = []

    def keep_inserting() -> None:
        n = 0
        while not stop.is_set() and n < 50:
            at = (datetime(2026, 11, 16, 12, 0, tzinfo=UTC) + timedelta(seconds=n)).isoformat()
            batch = [
                action(
                    f"late-{n}",
                    at,
                    customer_id="cust-bulk",
                    customer_name="Contoso Ltd",
                    action="user.password_reset",
                    resource_type="user",
                    resource_id=f"late-{n}",
                    details={},
                ),
                dataset()[-1 - n % BULK],  # a redelivered event: must not show twice
            ]
            insert(store, batch)
            inserted.append(n)
            n += 1

    inserter = threading.Thread(target=keep_inserting)
    inserter.start()
    seen: list[str] = []
    try:
        first = client.get("/api/v1/activity", params=params, headers=A).json()
        cursor = first["next_cursor"]
        seen = [i["event_id"] for i in first["items"]]
        while cursor:
            page = client.get(
                "/api/v1/activity", params=params | {"cursor": cursor}, headers=A
            ).json()
            seen += [i["event_id"] for i in page["items"]]
            cursor = page["next_cursor"]
    finally:
        stop.set()
        inserter.join(timeout=60)
    assert inserted, "the inserter never ran"
    late = {eid(f"late-{n}") for n in inserted}
    # Rows that arrived newer than the first page never push old rows around:
    # apart from those that landed before the first request, each old row shows once, in order.
    old = [e for e in seen if e not in late]
    assert old == expected
    assert len(seen) == len(set(seen))


def test_cursor_walks_the_whole_range_without_gaps(client: TestClient) -> None:
    params = NOV | {"limit": 7}
    everything = ids(client.get("/api/v1/activity", params=NOV, headers=A))
    walked: list[str] = []
    cursor = None
    while True:
        page = client.get(
            "/api/v1/activity", params=params | ({"cursor": cursor} if cursor else {}), headers=A
        ).json()
        walked += [i["event_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == everything


# -- detail


def test_detail_has_the_full_record_and_is_partner_scoped(client: TestClient) -> None:
    path = f"/api/v1/activity/{eid('order-cafe')}"
    item = client.get(path, headers=A).json()
    for field in (
        "source",
        "actor_ip",
        "user_agent",
        "payload",
        "schema_version",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "ingested_at",
        "subscriptions_url",
    ):
        assert field in item
    assert item["payload"]["order_id"] == "ord-cafe-1"
    assert item["kafka_topic"] == ORDERS_TOPIC
    assert item["ingested_at"].endswith("Z")
    assert client.get(path, headers=ADMIN).status_code == 200
    other = client.get(path, headers=B)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    missing = client.get(f"/api/v1/activity/{uuid.uuid4()}", headers=A)
    assert missing.status_code == 404


# -- tenant isolation on every endpoint


def test_each_partner_sees_only_its_own_rows_everywhere(client: TestClient) -> None:
    a = set(ids(client.get("/api/v1/activity", params=NOV, headers=A)))
    b = set(ids(client.get("/api/v1/activity", params=NOV, headers=B)))
    admin = set(ids(client.get("/api/v1/activity", params=NOV, headers=ADMIN)))
    assert b == {eid("b-order"), eid("b-action")}
    assert not a & b and a | b <= admin
    for fmt in ("csv", "jsonl", "parquet"):
        body = client.get(
            "/api/v1/activity/export", params=NOV | {"format": fmt}, headers=B
        ).content
        assert b"Other Partner Co" in body or fmt == "parquet"
        assert CAFE.encode() not in body and b"Contoso" not in body
    jsonl = client.get("/api/v1/activity/export", params=NOV | {"format": "jsonl"}, headers=B)
    assert {orjson.loads(line)["partner_id"] for line in jsonl.content.splitlines()} == {"ptn-b"}
    assert client.get(f"/api/v1/activity/{eid('b-order')}", headers=A).status_code == 404
    assert client.get("/api/v1/customers/cust-b/subscriptions", headers=A).status_code == 404
    assert client.get("/api/v1/customers/cust-cafe/subscriptions", headers=B).status_code == 404
    assert client.get("/api/v1/customers/cust-b/subscriptions", headers=B).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/activity",
        "/api/v1/activity/export",
        f"/api/v1/activity/{eid('order-cafe')}",
        "/api/v1/customers/cust-cafe/subscriptions",
    ],
)
def test_missing_or_unknown_keys_get_401(client: TestClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": "nope"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    assert client.get(path, headers={"X-API-Key": "key-a"}).status_code == 200


# Served without a key on purpose: the probes an orchestrator and Prometheus call, and
# the page's message catalog where the API has one (it holds no partner data).
PUBLIC_OPERATIONS = {("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/api/v1/texts")}


def test_every_operation_of_the_openapi_document_answers_401_without_a_key(
    client: TestClient,
) -> None:
    """Walked from the document: a route added tomorrow is checked without a test edit."""
    operations = [
        (method.upper(), path)
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) >= 11, operations
    assert {("GET", "/healthz"), ("GET", "/metrics")} <= set(operations), operations
    for method, path in operations:
        url = re.sub(r"\{[^}]+\}", "x", path)
        for headers in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": "nope"}):
            response = client.request(method, url, headers=headers)
            if (method, path) in PUBLIC_OPERATIONS:
                assert response.status_code != 401, (method, path)
                continue
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["error"]["code"] == "unauthorized", (method, path)


# -- subscriptions


def test_subscriptions_are_derived_from_orders_and_actions(client: TestClient) -> None:
    body = client.get("/api/v1/customers/cust-cafe/subscriptions", headers=A).json()
    assert body["customer_id"] == "cust-cafe" and body["customer_name"] == CAFE
    subs = {s["subscription_id"]: s for s in body["items"]}
    assert set(subs) == {"sub-1", "sub-2"}
    # quantity_change 3 -> 8 applied; the pending cancel (in_progress) did not happen yet.
    assert subs["sub-1"] | {"last_change_at": None} == {
        "subscription_id": "sub-1",
        "product": "Microsoft 365 E3",
        "quantity": 8,
        "status": "active",
        "status_text": "Active",
        "last_change_at": None,
        "last_action": "subscription.quantity_change",
        "last_action_text": "Subscription quantity changed",
        "order_id": "ord-cafe-1",
    }
    # suspended, a failed cancel (ignored), then reactivated.
    assert subs["sub-2"]["status"] == "active"
    assert subs["sub-2"]["last_action"] == "subscription.reactivate"
    assert subs["sub-2"]["last_change_at"] == "2026-11-08T09:00:00.000Z"
    assert subs["sub-2"]["quantity"] == 1


def test_a_customer_without_subscriptions_has_an_empty_list_and_unknown_is_404(
    client: TestClient,
) -> None:
    body = client.get("/api/v1/customers/cust-tz/subscriptions", headers=A).json()
    assert body["items"] == [] and body["customer_name"] == "Zeit GmbH"
    missing = client.get("/api/v1/customers/nobody/subscriptions", headers=A)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


# -- bad input: always a 4xx JSON error naming the problem, never a 500


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/api/v1/activity", {"from": "2026-13-01"}, "from"),
        ("/api/v1/activity", {"from": "yesterday"}, "from"),
        ("/api/v1/activity", {"to": "2026-11-01T10:00:00"}, "to"),
        ("/api/v1/activity", {"from": "2026-11-10", "to": "2026-11-01"}, "from"),
        ("/api/v1/activity", {"tz": "Mars/Olympus"}, "tz"),
        ("/api/v1/activity", {"tz": "../../etc/passwd"}, "tz"),
        ("/api/v1/activity", {"cursor": "not-a-cursor"}, "cursor"),
        ("/api/v1/activity", {"cursor": "WzEsMl0"}, "cursor"),
        ("/api/v1/activity", {"limit": "0"}, "limit"),
        ("/api/v1/activity", {"limit": "1001"}, "limit"),
        ("/api/v1/activity", {"limit": "ten"}, "limit"),
        ("/api/v1/activity/export", {"format": "xls"}, "format"),
        ("/api/v1/activity/export", {"lang": "de"}, "lang"),
        ("/api/v1/activity/export", {"from": "2026-11-10", "to": "2026-11-01"}, "from"),
        ("/api/v1/activity/export", {"tz": "Nowhere/Land"}, "tz"),
    ],
)
def test_bad_input_is_a_400_json_error(
    client: TestClient, path: str, params: dict[str, str], param: str
) -> None:
    response = client.get(path, params=params, headers=A)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert error["message"].startswith(param)
    assert "Traceback" not in response.text


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/activity",
        "/api/v1/activity/export",
        "/api/v1/activity/{event_id}",
        "/api/v1/customers/{customer_id}/subscriptions",
        "/healthz",
        "/metrics",
    ):
        assert path in paths
