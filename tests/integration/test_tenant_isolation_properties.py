"""Tenant isolation as properties: no endpoint ever shows another partner's row, count or existence.

A real chDB store holds three partners' activity. They share a customer id
(`cust-shared`), common words (`Contoso`, actions, a product), and each has
unique markers (its partner id, event ids, customer ids and a marker word)
so a leak is visible in any body: JSON, CSV, JSONL or Parquet. Hypothesis
draws the partner, the key header style and the filters from pools that mix
every partner's ids and words; cursors come from other partners' pages.

Properties, for a caller scoped to partner P:
- a page is exactly the all-partners key's answer restricted to P (same
  filters), and holds no other partner's marker, whatever cursor is sent;
- an export in every format counts (X-Activity-Rows) and holds only P's rows;
- every GET route with a path id (activity, subscriptions, export jobs,
  manifests, downloads; found by walking the app's routes) answers another
  partner's id exactly as it answers an id that does not exist.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from common.settings import Settings
from common.store import Store
from query.http.app import create_api
from query.jobs.runner import ExportJobRunner
from query.manifests.ledger import ExportLedger
from query.manifests.model import is_export_id, new_export_id
from schemas.migrate import open_migrated
from tests.fixtures.activity import NOW, insert
from tests.fixtures.events import valid_line_item, valid_order, valid_partner_action
from tests.fixtures.workbooks import openpyxl_sheets
from tests.fuzz import Tally, fuzz_settings

PARTNERS = ("ptn-amber", "ptn-blue", "ptn-coral")
KEYS = {f"key-{p}": p for p in PARTNERS} | {"key-admin": "*"}
MARK = {p: p.removeprefix("ptn-").upper() + "MARK" for p in PARTNERS}
TALLY = Tally("tenant_isolation")


def _eid(partner: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"isolation/{partner}/{n}"))


def dataset() -> list[tuple[str, dict[str, Any]]]:
    """Per partner: a shared customer id, an own customer, orders and actions, common words."""
    events: list[tuple[str, dict[str, Any]]] = []
    for p in PARTNERS:
        mark = MARK[p]
        for n in range(12):
            customer_id = "cust-shared" if n % 3 == 0 else f"cust-{mark.lower()}-{n % 2}"
            common = {
                "event_id": _eid(p, n),
                "occurred_at": f"2026-11-{1 + n:02d}T{8 + n % 10:02d}:00:00Z",
                "partner_id": p,
                "partner_user": f"ana.{mark.lower()}@{p}.example",
                "customer_id": customer_id,
                "customer_name": f"Contoso {mark} Ltd",
            }
            if n % 4 == 1:
                order = valid_order(
                    **common,
                    order_id=f"ord-{mark}-{n}",
                    line_items=[valid_line_item(subscription_id=f"sub-{mark}-{n}")],
                )
                events.append(("activity.orders.v1", order))
            else:
                action = valid_partner_action(
                    **common,
                    action=("subscription.suspend", "user.password_reset", "license.assign")[n % 3],
                    resource_id=f"sub-{mark}-{n}",
                    details={"note": f"{mark} note", "old": {"q": n}, "new": {"q": n + 1}},
                )
                events.append(("activity.partner-actions.v1", action))
    return events


EVENTS = dataset()
EVENT_IDS = {p: [e["event_id"] for _, e in EVENTS if e["partner_id"] == p] for p in PARTNERS}
CUSTOMER_IDS = sorted({e["customer_id"] for _, e in EVENTS})
WORDS = ["Contoso", "contoso", "Ltd", "sub-", "E3", *MARK.values(), *PARTNERS]


def foreign_tokens(partner: str) -> list[str]:
    """Strings only another partner's data contains."""
    tokens: list[str] = []
    for other in PARTNERS:
        if other != partner:
            tokens += [other, MARK[other], *EVENT_IDS[other]]
    return tokens


def assert_no_leak(partner: str, text: str, where: str) -> None:
    for token in foreign_tokens(partner):
        assert token not in text, f"{where}: another partner's {token!r} shown to {partner}"


def auth(partner: str, style: int = 0) -> dict[str, str]:
    key = "key-admin" if partner == "*" else f"key-{partner}"
    return {"Authorization": f"Bearer {key}"} if style == 0 else {"X-API-Key": key}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root: Path = tmp_path_factory.mktemp("isolation")
    store = open_migrated(f"chdb://{root / 'ch'}")
    insert(store, EVENTS)
    settings = Settings(state_dir=root / "state", api_keys=KEYS)
    # Jobs read through a store of their own, which they close when done (as in `serve`).
    ledger = ExportLedger(store, settings)  # one per process, shared by downloads and jobs
    jobs = ExportJobRunner(
        settings,
        store,
        ledger=ledger,
        open_reader=lambda: Store.open(f"chdb://{root / 'ch'}"),
    )
    jobs.start()
    try:
        with TestClient(
            create_api(store, settings, now=lambda: NOW, jobs=jobs, ledger=ledger)
        ) as c:
            yield c
    finally:
        jobs.stop()
        store.close()


FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "customer_id": st.sampled_from(CUSTOMER_IDS),
        "customer": st.sampled_from(WORDS),
        "action": st.sampled_from(["subscription", "order", "user.password_reset", "license"]),
        "partner_user": st.sampled_from([f"ana.{m.lower()}@{p}.example" for p, m in MARK.items()]),
        "q": st.sampled_from(WORDS + [ids[0] for ids in EVENT_IDS.values()]),
        "tz": st.sampled_from(["UTC", "Pacific/Kiritimati"]),
    },
).map(lambda f: {"from": "2026-10-01", "to": "2026-12-31"} | f)


def _page(client: TestClient, who: str, params: dict[str, Any], style: int = 0) -> Any:
    response = client.get("/api/v1/activity", params=params, headers=auth(who, style))
    TALLY.add("requests")
    assert response.status_code == 200, response.text
    return response


@fuzz_settings(60)
@given(partner=st.sampled_from(PARTNERS), filters=FILTERS, style=st.integers(0, 1))
def test_a_page_is_the_admin_answer_restricted_to_the_partner(
    client: TestClient, partner: str, filters: dict[str, Any], style: int
) -> None:
    mine = _page(client, partner, filters | {"limit": 1000}, style)
    assert_no_leak(partner, mine.text, "page")
    everyone = _page(client, "*", filters | {"limit": 1000}).json()["items"]
    expected = [item["event_id"] for item in everyone if item["partner_id"] == partner]
    assert [item["event_id"] for item in mine.json()["items"]] == expected
    TALLY.add("examples_pages")


@fuzz_settings(60)
@given(
    partner=st.sampled_from(PARTNERS),
    other=st.sampled_from(PARTNERS),
    filters=FILTERS,
    limit=st.integers(1, 2),
)
def test_a_cursor_from_another_partner_never_shows_its_rows(
    client: TestClient, partner: str, other: str, filters: dict[str, Any], limit: int
) -> None:
    # The foreign cursor comes from an unfiltered page (12 rows a partner, a page of 1 or 2):
    # there is always a next page, so every example applies it. Cursors carry only a position.
    range_only = {"from": filters["from"], "to": filters["to"]}
    theirs = _page(client, other, range_only | {"limit": limit}).json()
    assert theirs["next_cursor"] is not None, theirs
    mine = _page(client, partner, filters | {"limit": 1000, "cursor": theirs["next_cursor"]})
    assert all(item["partner_id"] == partner for item in mine.json()["items"])
    assert_no_leak(partner, mine.text, "page after a foreign cursor")
    TALLY.add("examples_cursors")


@fuzz_settings(25)
@given(
    partner=st.sampled_from(PARTNERS),
    filters=FILTERS,
    fmt=st.sampled_from(["csv", "jsonl", "parquet", "xlsx", "csv-fr"]),
)
def test_an_export_counts_and_holds_only_the_partners_rows(
    client: TestClient, partner: str, filters: dict[str, Any], fmt: str
) -> None:
    response = client.get(
        "/api/v1/activity/export", params=filters | {"format": fmt}, headers=auth(partner)
    )
    TALLY.add("requests")
    assert response.status_code == 200, response.text
    everyone = _page(client, "*", filters | {"limit": 1000}).json()["items"]
    expected = sorted(item["event_id"] for item in everyone if item["partner_id"] == partner)
    assert int(response.headers["X-Activity-Rows"]) == len(expected)
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(response.content))
        assert set(table.column("partner_id").to_pylist()) <= {partner}
        assert sorted(table.column("event_id").to_pylist()) == expected
        text = orjson.dumps(table.to_pylist(), default=str).decode()
    elif fmt == "xlsx":
        sheets = openpyxl_sheets(response.content)
        assert sum(len(rows) - 1 for _, rows in sheets) == len(expected)
        text = orjson.dumps([row for _, rows in sheets for row in rows], default=str).decode()
    else:
        text = response.content.decode("utf-8-sig")
        if fmt == "jsonl":
            records = [orjson.loads(line) for line in text.splitlines() if line]
            assert {r["partner_id"] for r in records} <= {partner}
            assert sorted(r["event_id"] for r in records) == expected
        else:
            delimiter = ";" if fmt == "csv-fr" else ","
            table_rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
            assert len(table_rows) == len(expected) + 1
    assert_no_leak(partner, text + str(dict(response.headers)), f"{fmt} export")
    TALLY.add("examples_exports")


@fuzz_settings(6)
@given(partner=st.sampled_from(PARTNERS), filters=FILTERS, fmt=st.sampled_from(["csv", "jsonl"]))
def test_an_export_job_counts_and_holds_only_the_partners_rows(
    client: TestClient, partner: str, filters: dict[str, Any], fmt: str
) -> None:
    """A background job: its totals, its file and its manifest are the partner's alone."""
    started = client.post(
        "/api/v1/exports", params=filters | {"format": fmt}, headers=auth(partner)
    )
    TALLY.add("requests")
    assert started.status_code == 202, started.text
    url = started.json()["url"]
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.get(url, headers=auth(partner)).json()
        TALLY.add("requests")
        if status["state"] not in ("queued", "running"):
            break
        time.sleep(0.05)  # polling the job's state, bounded by the deadline above
    assert status.get("state") == "done", status
    everyone = _page(client, "*", filters | {"limit": 1000}).json()["items"]
    expected = sorted(item["event_id"] for item in everyone if item["partner_id"] == partner)
    assert status["rows_written"] == len(expected)
    estimate = status["rows_total_estimate"]  # counted another partner's rows: too big
    assert estimate is None or estimate <= len(expected)
    download = client.get(status["download_url"], headers=auth(partner))
    manifest = client.get(status["manifest_url"], headers=auth(partner))
    TALLY.add("requests", 2)
    assert download.status_code == 200 and manifest.status_code == 200
    text = download.content.decode("utf-8-sig")
    if fmt == "jsonl":
        records = [orjson.loads(line) for line in text.splitlines() if line]
        assert sorted(r["event_id"] for r in records) == expected
        assert {r["partner_id"] for r in records} <= {partner}
    for where, body in (("status", str(status)), ("file", text), ("manifest", manifest.text)):
        # The job echoes the caller's own filters (their words, no leak): mask them first.
        for value in filters.values():
            body = body.replace(str(value), "<filter>")
        assert_no_leak(partner, body, f"export job {where}")
    TALLY.add("examples_jobs")


def _path_routes(client: TestClient) -> list[APIRoute]:
    """Every GET/DELETE API route with exactly one path parameter, from the app itself."""
    routes = [
        r
        # The routes of included routers too (FastAPI keeps each router whole).
        for r in (c.original_route for c in iter_route_contexts(client.app.routes))  # type: ignore[attr-defined]
        if isinstance(r, APIRoute)
        and r.path.startswith("/api/")
        and len(r.param_convertors) == 1
        and r.methods & {"GET", "DELETE"}
    ]
    assert routes, "no API route with a path id"
    return routes


def _owned_ids(client: TestClient, partner: str) -> list[str]:
    """Ids the partner owns: event ids, a customer id of its own, an export id and a job id."""
    export = client.get("/api/v1/activity/export", params={"format": "csv"}, headers=auth(partner))
    job = client.post("/api/v1/exports", params={"format": "csv"}, headers=auth(partner))
    assert export.status_code == 200 and job.status_code == 202, (export.text, job.text)
    ids = [*EVENT_IDS[partner][:3], f"cust-{MARK[partner].lower()}-1"]
    ids.append(export.headers["X-Activitylog-Export-Id"])
    ids.append(job.json()["id"] if "id" in job.json() else job.headers["X-Activitylog-Export-Id"])
    return ids


def _made_up_like(identifier: str) -> str:
    """An id of the same shape that nobody owns: an export id, a UUID or a customer id."""
    if is_export_id(identifier):
        return new_export_id()
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", identifier):
        return str(uuid.uuid4())
    return "cust-nobody-" + identifier[-2:]


def _normalized(body: str, identifier: str) -> str:
    return body.replace(identifier, "<id>")


def test_another_partners_ids_answer_exactly_like_ids_that_do_not_exist(
    client: TestClient,
) -> None:
    """Walks every API route with a path id: existence never leaks across partners."""
    routes = _path_routes(client)
    owned = {p: _owned_ids(client, p) for p in PARTNERS}
    checked = 0
    for route in routes:
        (name,) = route.param_convertors
        methods = sorted(route.methods & {"GET", "DELETE"})
        for partner in PARTNERS:
            for other in PARTNERS:
                if other == partner:
                    continue
                for foreign in owned[other]:
                    if foreign == "cust-shared":
                        continue
                    made_up = _made_up_like(foreign)
                    for method in methods:
                        path = route.path.replace("{" + name + "}", foreign)
                        answer = client.request(method, path, headers=auth(partner))
                        absent = client.request(
                            method,
                            route.path.replace("{" + name + "}", made_up),
                            headers=auth(partner),
                        )
                        TALLY.add("requests", 2)
                        where = f"{method} {route.path} as {partner} with {other}'s {foreign}"
                        assert answer.status_code == absent.status_code, where
                        assert answer.status_code >= 400, where
                        assert _normalized(answer.text, foreign) == _normalized(
                            absent.text, made_up
                        ), where
                        # The caller's own words echoed back are no leak; anything else would be.
                        assert_no_leak(partner, _normalized(answer.text, foreign), where)
                        checked += 1
    TALLY.add("foreign_id_probes", checked)
    assert checked > 0


def test_a_shared_customer_id_shows_only_the_partners_subscriptions(client: TestClient) -> None:
    for partner in PARTNERS:
        response = client.get("/api/v1/customers/cust-shared/subscriptions", headers=auth(partner))
        TALLY.add("requests")
        assert response.status_code == 200, response.text
        assert MARK[partner] in response.text
        assert_no_leak(partner, response.text, "subscriptions of a shared customer id")


def test_zz_write_isolation_figures() -> None:
    """Record how many requests the isolation properties made (runs last in the module)."""
    figures = TALLY.write()
    assert figures.get("requests", 0) > 0
