"""The CSV export's SQL renders the readable columns exactly as the Python renderer does.

`schemas/readable/sql.py` generates SQL from the catalogs and CLDR data;
`schemas/readable/render.py` is the reference. Both run here on the same
stored rows of the real store (chDB): a simulated month (every action code,
outcome and order status the simulator makes, its currencies with 0 and 2
decimals) and hand-made edge cases (unknown codes, big numbers, missing and
odd fields, rows stored before this change with English texts in them).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.store import Store
from producers.simulate.catalog import ACTIONS, ORDER_STATUSES
from schemas.activity import ACTIVITY_COLUMN_NAMES, ACTIVITY_TABLE
from schemas.json_text import json_text
from schemas.migrate import open_migrated
from schemas.readable.catalogs import LANGUAGES
from schemas.readable.render import READABLE_SOURCES, render
from schemas.readable.sql import readable_sql
from schemas.stored_texts import MATERIALIZED_LANGUAGES, text_columns
from tests.fixtures.datasets import fill_store

SIMULATED = 4000
_ids = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store of simulated activity and the edge cases (replaces the shared dataset)."""
    opened = open_migrated(f"chdb://{tmp_path_factory.mktemp('readable') / 'ch'}")
    try:
        fill_store(opened, SIMULATED, seed=18, seed_events=SIMULATED)
        _insert_edges(opened)
        yield opened
    finally:
        opened.close()


def _row(kind: str, action: str, status: str, details: Any, **fields: str) -> dict[str, Any]:
    at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=next(_ids))
    row: dict[str, Any] = {name: "" for name in ACTIVITY_COLUMN_NAMES}
    row |= {
        "partner_id": "edge",
        "occurred_at": at,
        "event_id": f"edge-{at.timestamp()}",
        "kind": kind,
        "action": action,
        "status": status,
        "details": details if isinstance(details, str) else json_text(details),
        "schema_version": 1,
        "kafka_partition": 0,
        "kafka_offset": 0,
        "ingested_at": at,
        # A row stored before read-time rendering: English text that must not leak out.
        "action_text": "Old English action",
        "status_text": "Old English status",
        "additional_info": "Old English details",
    }
    return row | fields


def _order(status: str, details: Any, **fields: str) -> dict[str, Any]:
    base = {"order_id": "ORD-1", "resource_id": "ORD-1", "resource_type": "order"}
    return _row("order", f"order.{status}", status, details, **(base | fields))


def _item(**fields: Any) -> dict[str, Any]:
    return {"product_name": "Contoso Suite", "quantity": 3} | fields


EDGES: list[dict[str, Any]] = [
    _row("partner_action", "invoice.paid_late", "succeeded", {}, resource_name="INV-1"),
    _row("partner_action", "tenant..mfa__enforce.", "on_hold", "", resource_id="t-1"),
    _row("partner_action", "user.delete", "failed", "", resource_id="u", resource_type="printer"),
    _row("partner_action", "user.delete", "succeeded", "not json {", resource_id="u"),
    _row("partner_action", "customer.update", "succeeded", "[1, 2]"),
    _row(
        "partner_action",
        "customer.update",
        "succeeded",
        {
            "old": {"name": "A", "same": [1, 2], "gone": "x", "nested": {"a": {"b": 1}}},
            "new": {"name": "B", "same": [1, 2], "added": True, "nested": {"a": {"b": 2}}},
            "big": 123456789012345678901234567890,
            "neg": -9223372036854775808,
            "none": None,
            "list": ["a", {"b": "c"}, None, False, 12],
            "quote": 'say "hi"\\ /x\t',
            "unicode": "Zoë 😀",
        },
    ),
    _row("partner_action", "customer.update", "succeeded", {"old": {"a": 1}, "new": "flat"}),
    _order("placed", {"currency": "EUR", "line_items": [_item(unit_price="12.5")]}),
    _order("completed", {"currency": "JPY", "line_items": [_item(unit_price="1500")]}),
    _order("failed", {"currency": "KRW", "line_items": [_item(unit_price="-1234567")]}),
    _order("cancelled", {"currency": "BHD", "line_items": [_item(unit_price="0.1")]}),
    _order("placed", {"currency": "USD", "line_items": [_item(unit_price="0.12345")]}),
    _order("placed", {"currency": "XYZ", "line_items": [_item(unit_price="99")]}),
    _order("placed", {"currency": "EUR", "line_items": [_item(unit_price="1e3")]}),
    _order("placed", {"line_items": [_item(unit_price="5")]}),
    _order(
        "placed",
        {
            "currency": "EUR",
            "line_items": [
                _item(quantity=1234567890123, unit_price="98765432109876.50"),
                _item(quantity=123456789012345678901234567890),
                _item(quantity="12"),
                _item(quantity="lots", term="P2W", billing_cycle="weekly"),
                {"quantity": 2},
                {"product_name": None, "quantity": None},
                {},
                "just text",
                7,
            ],
        },
    ),
    _order("shipped_partially", {"currency": "EUR", "line_items": []}, resource_name="X, Y"),
    _order("placed", {"currency": "EUR"}),
    _order("placed", ""),
]


def _insert_edges(store: Store) -> None:
    columns = [[row[name] for row in EDGES] for name in ACTIVITY_COLUMN_NAMES]
    store.insert_columns(ACTIVITY_TABLE, columns, ACTIVITY_COLUMN_NAMES)


def _compare(store: Store, lang: str, where: str) -> int:
    """SQL == Python on every matching row; so are the texts ClickHouse stored at insert
    for a language it renders (`schemas/stored_texts.py`: the same SQL, MATERIALIZED)."""
    exprs = readable_sql(lang)
    stored = text_columns(lang) if lang in MATERIALIZED_LANGUAGES else {}
    select = ", ".join(
        [
            *READABLE_SOURCES,
            *(f"{sql} AS sql_{name}" for name, sql in exprs.items()),
            *(f"{column} AS stored_{name}" for name, column in stored.items()),
        ]
    )
    rows = store.query_dicts(f"SELECT {select} FROM {ACTIVITY_TABLE} WHERE {where}", {})  # noqa: S608
    for row in rows:
        expected = render(row, lang).as_dict()
        got = {name: row[f"sql_{name}"] for name in expected}
        assert got == expected, row
        if stored:
            assert {name: row[f"stored_{name}"] for name in expected} == expected, row
    return len(rows)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_sql_equals_python_on_the_simulated_month(store: Store, lang: str) -> None:
    assert _compare(store, lang, "partner_id != 'edge'") == SIMULATED
    seen = store.query_rows(f"SELECT DISTINCT action FROM {ACTIVITY_TABLE}")  # noqa: S608
    actions = {str(row[0]) for row in seen}
    assert set(ACTIONS) <= actions  # every simulated code went through both renderers
    assert {f"order.{s}" for s in ORDER_STATUSES} <= actions


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_sql_equals_python_on_edge_cases(store: Store, lang: str) -> None:
    assert _compare(store, lang, "partner_id = 'edge'") == len(EDGES)


def test_edge_rows_read_in_their_language_not_in_the_stored_english(store: Store) -> None:
    exprs = readable_sql("fr")
    rows = store.query_rows(
        f"SELECT {exprs['action_text']}, {exprs['status_text']}, {exprs['additional_info']} "  # noqa: S608
        f"FROM {ACTIVITY_TABLE} WHERE partner_id = 'edge' ORDER BY occurred_at"
    )
    texts = [" | ".join(map(str, row)) for row in rows]
    assert not any("Old English" in text for text in texts)
    assert texts[0] == "Action « invoice.paid_late » : INV-1 | Réussi | "
    eur = next(t for t in texts if "12,50" in t)
    assert eur.endswith("3 × Contoso Suite (12,50\u00a0€)")
    assert any("1\u202f500\u00a0JPY" in t for t in texts)
