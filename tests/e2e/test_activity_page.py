"""The activity log page in real headless Chromium, against a real `activitylog serve`.

Known events go through the real broker and worker into chDB; the browser
then does what a partner does: enters the API key, picks a range, pages,
expands an order and a quantity change, exports the CSV and follows a
Subscriptions link. Screenshots land in `test-artifacts/e2e/`.

The browser runs in Europe/Paris so the page's time zone matters: an event at
23:30 UTC on the last day of February is 1 March in Paris (inside the range),
one at 22:30 UTC on 31 March is 1 April (outside).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import orjson
import pytest
from kafka import KafkaProducer
from playwright.sync_api import Browser, Page, expect

from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC
from tests.fixtures.events import valid_line_item, valid_order, valid_partner_action
from tests.fixtures.serve import ServeProcess, wait_until

ZONE = "Europe/Paris"
RANGE = ("2025-03-01", "2025-03-31")
PAGE_SIZE = 25
UI_TIMEOUT_MS = 15_000

TRICKY_NAME = 'Contoso "Quoted" <b>Ltd</b> & Söhne 株式会社'
FORMULA_NAME = '=HYPERLINK("http://evil.example","click") Fabrikam'
PRODUCTS = [
    ("Microsoft 365 E3", 12, "33.60", "P1Y", "sub-e2e-m365"),
    ("Teams Phone Standard", 4, "8.00", "P1M", "sub-e2e-teams"),
    ("Defender for Endpoint P2 — 東京 <edition>", 25, "5.20", "P3Y", "sub-e2e-defender"),
]
# How the expanded order names a price and a term, in English (en-GB) and in French (fr-FR).
PRICE = {"en": "€{}", "fr": "{}\u00a0€"}
TERMS = {
    "en": {"P1Y": "1 year", "P1M": "1 month", "P3Y": "3 years"},
    "fr": {"P1Y": "1 an", "P1M": "1 mois", "P3Y": "3 ans"},
}


@dataclass
class Served:
    """A running `activitylog serve` holding the known events."""

    serve: ServeProcess
    key: str
    partner: str
    in_range: set[str] = field(default_factory=set)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.serve.url

    def api(self, path: str, **params: Any) -> httpx.Response:
        return self.serve.get(path, self.key, **params)


def _events(partner: str, other: str) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str]]:
    """The known set: (topic, event) pairs, and the ids the test looks for by role."""
    contoso = {
        "partner_id": partner,
        "customer_id": "cust-e2e-contoso",
        "customer_name": TRICKY_NAME,
    }
    big_order = valid_order(
        **contoso,
        occurred_at="2025-03-31T20:00:00Z",
        order_id="ord-e2e-big",
        correlation_id="corr-e2e-orders",  # one lifecycle with the formula order below
        line_items=[
            valid_line_item(
                product_name=name, quantity=qty, unit_price=price, term=term, subscription_id=sub
            )
            for name, qty, price, term, sub in PRODUCTS
        ],
    )
    quantity_change = valid_partner_action(
        **contoso,
        occurred_at="2025-03-31T21:00:00Z",
        resource_id="sub-e2e-m365",
        resource_name="Microsoft 365 E3",
        details={"old": {"quantity": 12}, "new": {"quantity": 15}},
    )
    suspend = valid_partner_action(
        **contoso,
        occurred_at="2025-03-31T20:30:00Z",
        action="subscription.suspend",
        resource_id="sub-e2e-teams",
        resource_name="Teams Phone Standard",
        details={"old": {"status": "active"}, "new": {"status": "suspended"}},
    )
    formula_order = valid_order(
        partner_id=partner,
        customer_id="cust-e2e-formula",
        customer_name=FORMULA_NAME,
        occurred_at="2025-03-15T09:00:00Z",
        order_id="ord-e2e-formula",
        correlation_id="corr-e2e-orders",
    )
    northwind = {"partner_id": partner, "customer_id": "cust-e2e-northwind"}
    fillers = [
        valid_partner_action(
            **northwind,
            customer_name="Northwind Traders",
            occurred_at=f"2025-03-{2 + i:02d}T12:{i:02d}:00Z",
            action="user.password_reset",
            resource_type="user",
            resource_id=f"user-{i}",
            resource_name=f"user{i}@northwind.example",
            details={"reason": "forgotten", "ticket": i},
        )
        for i in range(24)
    ]
    edge_in = valid_partner_action(  # 1 March 00:30 in Paris
        **northwind, customer_name="Northwind Traders", occurred_at="2025-02-28T23:30:00Z"
    )
    edge_out = valid_partner_action(  # 1 April 00:30 in Paris
        **northwind, customer_name="Northwind Traders", occurred_at="2025-03-31T22:30:00Z"
    )
    foreign = valid_partner_action(
        partner_id=other,
        customer_id="cust-e2e-secret",
        customer_name="Secret Other Partner Co",
        occurred_at="2025-03-20T10:00:00Z",
    )
    events = [
        (ORDERS_TOPIC, big_order),
        (PARTNER_ACTIONS_TOPIC, quantity_change),
        (PARTNER_ACTIONS_TOPIC, suspend),
        (ORDERS_TOPIC, formula_order),
        *[(PARTNER_ACTIONS_TOPIC, e) for e in fillers],
        (PARTNER_ACTIONS_TOPIC, edge_in),
        (PARTNER_ACTIONS_TOPIC, edge_out),
        (PARTNER_ACTIONS_TOPIC, foreign),
    ]
    ids = {
        "big_order": big_order["event_id"],
        "quantity_change": quantity_change["event_id"],
        "edge_in": edge_in["event_id"],
        "edge_out": edge_out["event_id"],
        "foreign": foreign["event_id"],
    }
    return events, ids


def _publish(bootstrap: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        futures = [
            producer.send(topic, key=str(e["customer_id"]).encode(), value=orjson.dumps(e))
            for topic, e in events
        ]
        producer.flush(30)
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()


@pytest.fixture(scope="module")
def served(e2e_kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tag = uuid.uuid4().hex[:8]
    partner, other, key = f"ptn-e2e-{tag}", f"ptn-other-{tag}", f"k-e2e-{tag}"
    serve = ServeProcess(
        e2e_kafka_bootstrap,
        tmp_path_factory.mktemp("e2e-serve"),
        ACTIVITYLOG_API_KEYS=f"{key}={partner},k-other-{tag}={other}",
        ACTIVITYLOG_CONSUMER_GROUP=f"g-{partner}",
    ).start()
    try:
        events, ids = _events(partner, other)
        _publish(e2e_kafka_bootstrap, events)
        mine = [e for _, e in events if e["partner_id"] == partner]
        result = Served(serve=serve, key=key, partner=partner, ids=ids)
        result.in_range = {str(e["event_id"]) for e in mine} - {ids["edge_out"]}

        def stored() -> int:
            # A page, not an export: every export is itself an activity (`export.create`,
            # today), and the test starts on an empty default month.
            body = result.api(
                "/api/v1/activity", limit=1000, **{"from": "2025-02-01", "to": "2025-04-30"}
            )
            return len(body.json()["items"]) if body.status_code == 200 else -1

        wait_until(lambda: stored() == len(mine), 90, f"{len(mine)} stored rows")
        yield result
    finally:
        assert serve.stop() == 0, serve.log()


@contextmanager
def _browser_page(chromium: Browser, served: Served, locale: str) -> Iterator[Page]:
    """A fresh context in Paris time and `locale`; page errors and off-site requests recorded."""
    context = chromium.new_context(
        timezone_id=ZONE, locale=locale, viewport={"width": 1366, "height": 900}
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    page.on(
        "request",
        lambda req: (
            None
            if req.url.startswith((served.url, "blob:", "data:"))
            else problems.append(f"off-site request: {req.url}")
        ),
    )
    try:
        yield page
    finally:
        context.close()
    assert problems == [], problems


@pytest.fixture()
def page(chromium: Browser, served: Served) -> Iterator[Page]:
    """A browser in British English."""
    with _browser_page(chromium, served, "en-GB") as opened:
        yield opened


@pytest.fixture()
def french_page(chromium: Browser, served: Served) -> Iterator[Page]:
    """A browser in French (France): what a French partner opens the page with."""
    with _browser_page(chromium, served, "fr-FR") as opened:
        yield opened


def _enter_key(page: Page, key: str, *, accepted: bool = True) -> None:
    """The first API call answers 401: the page asks for a key and retries with it."""
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-message")).to_contain_text("key")
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")
    if accepted:
        expect(page.locator("#key-form")).to_be_hidden()


def _pick_range(page: Page, first: str, last: str) -> None:
    page.fill("#from", first)
    page.fill("#to", last)
    page.select_option("#limit", str(PAGE_SIZE))
    page.click("#apply")


def _row_ids(page: Page) -> list[str]:
    return page.locator("tr.activity-row").evaluate_all("rows => rows.map(r => r.dataset.eventId)")


def _shot(page: Page, artifacts_dir: Path, name: str) -> None:
    path = artifacts_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_a_partner_picks_a_range_expands_an_order_and_exports_the_csv(
    page: Page, served: Served, artifacts_dir: Path
) -> None:
    page.goto(served.url + "/")
    today = datetime.now(ZoneInfo(ZONE)).date()
    expect(page.locator("#from")).to_have_value((today - timedelta(days=29)).isoformat())
    expect(page.locator("#to")).to_have_value(today.isoformat())
    # A wrong key is refused with the API's reason, and the page asks again.
    _enter_key(page, "not-a-key", accepted=False)
    expect(page.locator("#key-message")).to_contain_text("did not accept this key")
    _enter_key(page, served.key)
    # The default month holds none of the 2025 events: an empty state, not an empty table.
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#empty")).to_contain_text("No activity")

    # A reversed range is the API's 400, shown with its message; no rows.
    _pick_range(page, RANGE[1], RANGE[0])
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("must be before")
    _pick_range(page, *RANGE)
    expect(page.locator("#error")).to_be_hidden()
    rows = page.locator("tr.activity-row")
    expect(rows).to_have_count(PAGE_SIZE)
    expect(page.locator("#date-heading")).to_have_text(f"Date ({ZONE})")
    first_page = _row_ids(page)
    stamps = rows.locator("time").evaluate_all("ts => ts.map(t => t.getAttribute('datetime'))")
    assert stamps == sorted(stamps, reverse=True), "newest first"

    # Paging by cursor: the rest on page 2, back to the same page 1.
    expect(page.locator("#next")).to_be_enabled()
    page.click("#next")
    expect(rows).to_have_count(len(served.in_range) - PAGE_SIZE)
    expect(page.locator("#next")).to_be_disabled()
    second_page = _row_ids(page)
    assert set(first_page) | set(second_page) == served.in_range
    assert not set(first_page) & set(second_page)
    assert served.ids["edge_in"] in second_page  # 1 March 00:30 in Paris
    page.click("#prev")
    expect(rows).to_have_count(PAGE_SIZE)
    assert _row_ids(page) == first_page

    # Customer names are text, never markup.
    contoso = page.locator(f'tr[data-event-id="{served.ids["big_order"]}"]')
    expect(contoso.locator(".col-customer")).to_have_text(TRICKY_NAME)
    assert contoso.locator(".col-customer b").count() == 0

    # The order's down arrow, from the keyboard: every product with quantity, price and term.
    expander = contoso.locator("button.expander")
    expect(expander).to_have_attribute("aria-expanded", "false")
    details = page.locator(f"#{expander.get_attribute('aria-controls')}")
    expect(details).to_be_hidden()
    expander.focus()
    # Reach it from the keyboard (Shift+Tab, Tab) so :focus-visible applies as for a user.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    expect(expander).to_be_focused()
    outline = expander.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline not in ("none", ""), "keyboard focus is visible"
    page.keyboard.press("Enter")
    expect(expander).to_have_attribute("aria-expanded", "true")
    expect(details).to_be_visible()
    lines = details.locator("table.line-items tbody tr")
    expect(lines).to_have_count(len(PRODUCTS))
    for index, (name, quantity, price, term, subscription) in enumerate(PRODUCTS):
        cells = lines.nth(index).locator("th, td")
        expect(cells.nth(0)).to_have_text(name)
        expect(cells.nth(1)).to_have_text(str(quantity))
        expect(cells.nth(2)).to_have_text(PRICE["en"].format(price))
        expect(cells.nth(3)).to_have_text(TERMS["en"][term])
        expect(cells.nth(7)).to_have_text(subscription)
    expect(details.locator(".record")).to_contain_text("ord-e2e-big")
    # The full record (detail endpoint) adds where the order came from.
    expect(details.locator(".record")).to_contain_text("ordering-service")
    # ... and its lifecycle: the events sharing its correlation id, oldest first, this one marked.
    steps = details.locator("table.lifecycle tbody tr")
    expect(steps).to_have_count(2)
    expect(steps.nth(1)).to_have_attribute("aria-current", "true")
    expect(steps.nth(0)).to_contain_text("ord-e2e-formula")

    # A quantity change opens with Space and shows before/after.
    change = page.locator(f'tr[data-event-id="{served.ids["quantity_change"]}"] button.expander')
    change.focus()
    page.keyboard.press("Space")
    expect(change).to_have_attribute("aria-expanded", "true")
    change_details = page.locator(f"#{change.get_attribute('aria-controls')}")
    quantity_row = change_details.locator("table.changes tbody tr").filter(has_text="quantity")
    expect(quantity_row.locator("td.old")).to_have_text("12")
    expect(quantity_row.locator("td.new")).to_have_text("15")
    _shot(page, artifacts_dir, "activity-expanded")

    # Enter on the expander again closes it.
    expander.focus()
    page.keyboard.press("Enter")
    expect(expander).to_have_attribute("aria-expanded", "false")
    expect(details).to_be_hidden()

    # Export: the CSV of the selected range, fetched with the key and saved by the browser.
    with page.expect_download() as download_info:
        page.click("#export")
    download = download_info.value
    assert download.suggested_filename == f"activity-{RANGE[0]}_{RANGE[1]}.csv"
    saved = artifacts_dir / download.suggested_filename
    download.save_as(saved)
    body = saved.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM for Excel"
    assert b"\r\n" in body and body.count(b"\n") == body.count(b"\r\n"), "CRLF line ends"
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert table[0][:6] == [
        "Date (UTC)",
        "Affected customer",
        "Action",
        "Partner user",
        "Status",
        "Additional information",
    ]
    assert len(table) == 1 + len(served.in_range)
    names = {row[1] for row in table[1:]}
    assert TRICKY_NAME in names
    assert not any(name.startswith("=") for name in names), "formula cells neutralized"
    assert any(FORMULA_NAME in name for name in names)
    expect(page.locator("#status")).to_contain_text(download.suggested_filename)
    _shot(page, artifacts_dir, "activity-exported")

    # In French the page and the export's headers follow (docs/contracts.md, The activity record).
    page.click("#lang-toggle")
    expect(page.locator("h1")).to_have_text("Journal d’activité")
    expect(page.locator("#activity > thead")).to_contain_text("Client affecté")
    expect(rows).to_have_count(PAGE_SIZE)
    expect(contoso.locator(".col-action")).to_contain_text("Commande terminée")
    with page.expect_download() as french_info:
        page.click("#export")
    french = french_info.value.path().read_bytes().decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(french, newline="")))[1:3] == ["Client affecté", "Action"]

    # The Export menu's other formats: French Excel's CSV (`;`), and a real workbook.
    page.select_option("#export-format", "csv-fr")
    with page.expect_download() as semicolon_info:
        page.click("#export")
    semicolon = semicolon_info.value.path().read_bytes().decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(semicolon, newline=""), delimiter=";"))
    assert header[1:3] == ["Client affecté", "Action"]
    page.select_option("#export-format", "xlsx")
    with page.expect_download() as xlsx_info:
        page.click("#export")
    assert xlsx_info.value.suggested_filename == f"activity-{RANGE[0]}_{RANGE[1]}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(xlsx_info.value.path().read_bytes()), read_only=True)
    sheet_rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert sheet_rows[0][1] == "Client affecté"
    assert len(sheet_rows) == 1 + len(served.in_range)
    assert all(isinstance(row[0], datetime) for row in sheet_rows[1:]), "dates as dates"


def test_a_subscriptions_link_opens_the_customers_subscriptions_and_back_keeps_the_range(
    page: Page, served: Served, artifacts_dir: Path
) -> None:
    paths = served.api("/openapi.json").json().get("paths", {})
    # The route is part of the contract (docs/contracts.md): missing, the test fails.
    assert "/api/v1/customers/{customer_id}/subscriptions" in paths, sorted(paths)
    expected = served.api("/api/v1/customers/cust-e2e-contoso/subscriptions").json()
    assert expected["items"], expected

    page.goto(f"{served.url}/?from={RANGE[0]}&to={RANGE[1]}&limit={PAGE_SIZE}")
    _enter_key(page, served.key)
    # The customer filter: a case-insensitive substring of the company name.
    page.fill("#customer", "söhne")
    page.press("#customer", "Enter")
    expect(page.locator("tr.activity-row")).to_have_count(3)
    contoso = page.locator(f'tr[data-event-id="{served.ids["big_order"]}"]')
    link = contoso.locator("a.subscriptions-link")
    expect(link).to_have_attribute("href", "/customers/cust-e2e-contoso/subscriptions")
    # Tab order: the row's expander, then its Subscriptions link; Enter follows it.
    contoso.locator("button.expander").focus()
    page.keyboard.press("Tab")
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/customers/cust-e2e-contoso/subscriptions")
    rows = page.locator("tr.subscription-row")
    expect(rows).to_have_count(len(expected["items"]))
    expect(page.locator("h1")).to_contain_text(TRICKY_NAME)
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.subscriptionId)")
    assert shown == [str(item["subscription_id"] or "") for item in expected["items"]]
    statuses = rows.locator(".badge").all_inner_texts()
    assert statuses == [str(item["status_text"]) for item in expected["items"]]
    codes = rows.locator(".badge").evaluate_all("bs => bs.map(b => b.dataset.status)")
    assert codes == [str(item["status"]) for item in expected["items"]]
    products = rows.locator("th").all_inner_texts()
    for name, *_ in PRODUCTS:
        assert name in products, (name, products)
    _shot(page, artifacts_dir, "subscriptions")

    page.go_back()
    expect(page.locator("#from")).to_have_value(RANGE[0])
    expect(page.locator("#to")).to_have_value(RANGE[1])
    expect(page.locator("#customer")).to_have_value("söhne")
    expect(page.locator("tr.activity-row")).to_have_count(3)

    # The action filter narrows to orders (a prefix of `order.completed`).
    page.fill("#customer", "")
    page.select_option("#action", "order")
    page.click("#apply")
    expect(page.locator("tr.activity-row")).to_have_count(2)
    assert set(
        page.locator("tr.activity-row").evaluate_all("rs => rs.map(r => r.dataset.kind)")
    ) == {"order"}

    # From a Subscriptions page to that customer's activity in the same range, and back out.
    page.goto(f"{served.url}/customers/cust-e2e-contoso/subscriptions")
    page.click("#customer-activity")
    expect(page.locator("#extra-filters")).to_contain_text("customer_id = cust-e2e-contoso")
    expect(page.locator("#from")).to_have_value(RANGE[0])
    expect(page.locator("tr.activity-row")).to_have_count(3)
    page.click("#clear-extra")
    expect(page.locator("#extra-filters")).to_be_hidden()
    expect(page.locator("tr.activity-row")).to_have_count(PAGE_SIZE)


def test_a_french_browser_reads_the_log_in_french_and_the_choice_of_english_persists(
    french_page: Page, served: Served, artifacts_dir: Path
) -> None:
    page = french_page
    page.goto(f"{served.url}/?from={RANGE[0]}&to={RANGE[1]}&limit={PAGE_SIZE}")
    # French from the first visit, without a click: the labels, then the rows themselves.
    expect(page.locator("h1")).to_have_text("Journal d’activité")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#key-form")).to_be_visible()
    page.fill("#api-key", served.key)
    page.press("#api-key", "Enter")
    rows = page.locator("tr.activity-row")
    expect(rows).to_have_count(PAGE_SIZE)
    order = page.locator(f'tr[data-event-id="{served.ids["big_order"]}"]')
    expect(order.locator(".col-action")).to_have_text(
        "Commande terminée : " + ", ".join(name for name, *_ in PRODUCTS)
    )
    expect(order.locator(".col-status")).to_have_text("Commande ord-e2e-big : terminée")
    # Dates by the French rules, in the zone the column heading names.
    expect(page.locator("#date-heading")).to_have_text(f"Date ({ZONE})")
    expect(order.locator(".col-date")).to_have_text("31/03/2025 22:00")
    change = page.locator(f'tr[data-event-id="{served.ids["quantity_change"]}"]')
    expect(change.locator(".col-action")).to_have_text(
        "Quantité de l’abonnement modifiée : Microsoft 365 E3"
    )
    expect(change.locator(".col-status")).to_have_text("Réussi (abonnement sub-e2e-m365)")

    # The expanded details: French numbers, amounts, terms and field names.
    order.locator("button.expander").click()
    details = page.locator(f"#{order.locator('button.expander').get_attribute('aria-controls')}")
    lines = details.locator("table.line-items tbody tr")
    expect(lines).to_have_count(len(PRODUCTS))
    for index, (_, quantity, price, term, _) in enumerate(PRODUCTS):
        cells = lines.nth(index).locator("th, td")
        expect(cells.nth(1)).to_have_text(str(quantity))
        expect(cells.nth(2)).to_have_text(PRICE["fr"].format(price.replace(".", ",")))
        expect(cells.nth(3)).to_have_text(TERMS["fr"][term])
    expect(details.locator(".record")).to_contain_text("Informations supplémentaires")
    expect(details.locator(".record")).to_contain_text("12 × Microsoft 365 E3 (33,60\u00a0€, 1 an")
    change.locator("button.expander").click()
    change_details = page.locator(
        f"#{change.locator('button.expander').get_attribute('aria-controls')}"
    )
    quantity_row = change_details.locator("table.changes tbody tr").filter(has_text="Quantité")
    expect(quantity_row.locator("td.old")).to_have_text("12")
    _shot(page, artifacts_dir, "activity-french")

    # The downloaded CSV is French: headers and cells; machine fields as in English.
    with page.expect_download() as download_info:
        page.click("#export")
    table = list(
        csv.reader(
            io.StringIO(download_info.value.path().read_bytes().decode("utf-8-sig"), newline="")
        )
    )
    assert table[0] == [
        "Date (UTC)",
        "Client affecté",
        "Action",
        "Utilisateur partenaire",
        "État",
        "Informations supplémentaires",
    ]
    assert len(table) == 1 + len(served.in_range)
    by_date = {row[0]: row for row in table[1:]}
    big = by_date["2025-03-31T20:00:00.000Z"]
    assert big[2].startswith("Commande terminée : Microsoft 365 E3")
    assert big[4] == "Commande ord-e2e-big : terminée"
    assert big[5].startswith("12 × Microsoft 365 E3 (33,60\u00a0€, 1 an, facturation mensuelle)")
    assert not any(row[4].startswith(("Succeeded", "Failed", "Order")) for row in table[1:])

    # The Subscriptions page opens in French too, its dates naming their zone.
    order.locator("a.subscriptions-link").click()
    page.wait_for_url("**/customers/cust-e2e-contoso/subscriptions")
    expect(page.locator("h1")).to_contain_text("Abonnements")
    expect(page.locator("#back")).to_have_text("← Retour au journal d’activité")
    expect(page.locator("#last-change-heading")).to_have_text(f"Dernière modification ({ZONE})")
    badges = page.locator("tr.subscription-row .badge")
    expect(badges.first).to_be_visible()
    assert set(badges.all_inner_texts()) <= {"Actif", "Suspendu", "Résilié"}
    _shot(page, artifacts_dir, "subscriptions-french")

    # English, chosen here, holds across a reload and back on the activity page.
    page.click("#lang-toggle")
    expect(page.locator("h1")).to_contain_text("Subscriptions")
    expect(badges.first).to_have_text(re.compile("^(Active|Suspended|Cancelled)$"))
    page.reload()
    expect(page.locator("h1")).to_contain_text("Subscriptions")
    expect(page.locator("#back")).to_have_text("← Back to the activity log")
    page.click("#back")
    expect(page.locator("h1")).to_have_text("Activity log")
    expect(order.locator(".col-action")).to_contain_text("Order completed: Microsoft 365 E3")
    # English without a region of its own in this browser: CLDR English (en).
    expect(order.locator(".col-date")).to_have_text("03/31/2025, 22:00")


def test_the_pages_are_served_with_a_strict_content_security_policy(served: Served) -> None:
    for path in ("/", "/customers/cust-e2e-contoso/subscriptions", "/static/activity.js"):
        response = httpx.get(served.url + path, timeout=10)
        assert response.status_code == 200, (path, response.text)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
    missing = httpx.get(served.url + "/static/..%2Fpages.py", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
