"""The readable columns: each catalog covers every code the simulator produces."""

from __future__ import annotations

import orjson
import pytest

from common.errors import BadQuery
from producers.simulate.catalog import ACTIONS, ORDER_STATUSES
from schemas.events import Outcome
from schemas.readable.catalogs import LANGUAGES, check_language, messages
from schemas.readable.numbers import format_amount, format_integer
from schemas.readable.render import render

TERMS = ("P1M", "P1Y")
BILLING_CYCLES = ("monthly", "annual")
RESOURCE_TYPES = ("customer", "user", "license", "subscription", "order", "export")


def _action(action: str, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "kind": "partner_action",
        "action": action,
        "status": "succeeded",
        "resource_type": "subscription",
        "resource_id": "sub-1",
        "resource_name": "Contoso Backup",
        "order_id": "",
        "details": "",
    }
    return row | fields


def _order(status: str, details: object, **fields: object) -> dict[str, object]:
    row = _action(f"order.{status}", kind="order", status=status, resource_type="order")
    return (
        row
        | {"order_id": "ORD-9001", "resource_id": "ORD-9001"}
        | fields
        | {"details": orjson.dumps(details).decode()}
    )


def test_english_comes_first_and_french_is_there() -> None:
    assert LANGUAGES[0] == "en" and "fr" in LANGUAGES


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_catalog_has_every_key_of_english(lang: str) -> None:
    assert set(messages("en")) - set(messages(lang)) == set()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_simulated_code_has_a_text(lang: str) -> None:
    known = messages(lang)
    wanted = [
        *(f"action.{a}" for a in ACTIONS),
        *(f"action.order.{s}" for s in ORDER_STATUSES),
        *(f"order_status.{s}" for s in ORDER_STATUSES),
        *(f"outcome.{o.value}" for o in Outcome),
        *(f"resource.{t}" for t in RESOURCE_TYPES),
        *(f"term.{t}" for t in TERMS),
        *(f"billing_cycle.{c}" for c in BILLING_CYCLES),
    ]
    assert [key for key in wanted if key not in known] == []


def test_french_differs_from_english_for_every_simulated_action() -> None:
    for action in ACTIONS:
        en, fr = render(_action(action), "en"), render(_action(action), "fr")
        assert en.action_text != fr.action_text, action


def test_a_french_order_reads_in_french_with_cldr_amounts() -> None:
    details = {
        "currency": "EUR",
        "line_items": [
            {
                "product_name": "Dynamics 365 Sales",
                "quantity": 1200,
                "unit_price": "12.5",
                "term": "P1Y",
                "billing_cycle": "monthly",
            }
        ],
    }
    fr = render(_order("placed", details, resource_name="Dynamics 365 Sales"), "fr")
    assert fr.action_text == "Commande passée : Dynamics 365 Sales"
    assert fr.status_text == "Commande ORD-9001 : passée"
    assert fr.additional_info == (
        "1\u202f200 × Dynamics 365 Sales (12,50\u00a0€, 1 an, facturation mensuelle)"
    )
    en = render(_order("placed", details, resource_name="Dynamics 365 Sales"), "en")
    assert en.additional_info == "1,200 × Dynamics 365 Sales (€12.50, 1 year, billed monthly)"


def test_a_partner_action_reads_in_french() -> None:
    details = {
        "old": {"quantity": 5, "seats": 1},
        "new": {"quantity": 8, "seats": 1},
        "reason": "x",
    }
    fr = render(
        _action("subscription.quantity_change", details=orjson.dumps(details).decode()), "fr"
    )
    assert fr.action_text == "Quantité de l’abonnement modifiée : Contoso Backup"
    assert fr.status_text == "Réussi (abonnement sub-1)"
    assert fr.additional_info == "Quantité : 5 → 8; Motif : x"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_unknown_code_renders_in_every_language(lang: str) -> None:
    row = _action("invoice.paid_late", status="on_hold", resource_type="invoice", resource_name="")
    text = render(row, lang)
    assert "invoice" in text.action_text.lower() and "paid" in text.action_text.lower()
    assert "invoice sub-1" in text.status_text and "hold" in text.status_text
    order = render(_order("shipped", {"currency": "XYZ", "line_items": [{}]}), lang)
    assert "shipped" in order.action_text.lower() and "shipped" in order.status_text
    assert order.additional_info == "? × ?"


def test_amounts_follow_the_currency_digits_and_never_round() -> None:
    assert format_amount("1500", "JPY", "fr") == "1\u202f500\u00a0JPY"
    assert format_amount("1500", "JPY", "en") == "¥1,500"
    assert format_amount("-3", "EUR", "en") == "-€3.00"
    assert format_amount("0.125", "USD", "en") == "$0.125"
    assert format_integer("-1234567", "fr") == "-1\u202f234\u202f567"


def test_an_unsupported_language_names_the_supported_ones() -> None:
    with pytest.raises(BadQuery, match="en, fr"):
        check_language("de")
