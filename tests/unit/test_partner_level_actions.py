"""Partner-level actions (`"scope": "partner"`): v1 contract room for actions with no customer.

The rule: a partner action with `scope` partner (e.g. `export.create`) carries
no `customer_id`/`customer_name` and is keyed by `partner_id`; without `scope`
(or with `customer`) both stay required, so every v1 event validates, keys and
normalizes as before. Both validators (pydantic and the JSON Schema file)
must agree, and readers must show such a row with no customer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from processors.normalize import KafkaMeta, normalize
from producers.bulk import prepare_line
from producers.publisher import encode_event
from query.reads.records import present
from schemas.events import PartnerAction, validate_event
from schemas.topics import PARTNER_ACTIONS_TOPIC
from tests.fixtures.contracts import accepted, refused, schema_accepts
from tests.fixtures.events import (
    OMIT,
    event_to_json_dict,
    minimal_partner_action,
    valid_partner_action,
)

PA = PARTNER_ACTIONS_TOPIC
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
META = KafkaMeta(PA, 0, 7)


def partner_level(**overrides: Any) -> dict[str, Any]:
    """An `export.create` as the export audit writes it: scope partner, no customer."""
    base = valid_partner_action(
        action="export.create",
        scope="partner",
        customer_id=OMIT,
        customer_name=OMIT,
        resource_type="export",
        resource_id="exp-1",
        resource_name=OMIT,
        details={"format": "csv", "rows": 12},
    )
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not OMIT}


def _row(event: dict[str, Any]) -> dict[str, Any]:
    raw = orjson.dumps(event)
    return dict(normalize(validate_event(PA, raw, lenient_enums=True), raw, META, NOW))


def test_a_partner_level_action_needs_no_customer_and_both_validators_accept_it() -> None:
    event = partner_level()
    action = accepted(PA, event)
    assert isinstance(action, PartnerAction)
    assert action.partner_level
    assert action.customer_id is None and action.customer_name is None
    assert schema_accepts(PA, event)
    # Null means absent, as for every optional field.
    nulls = partner_level(customer_id=None, customer_name=None)
    assert accepted(PA, nulls).customer_id is None
    assert schema_accepts(PA, nulls)


@pytest.mark.parametrize("name", ["customer_id", "customer_name"])
def test_a_partner_level_action_naming_a_customer_is_refused_by_both(name: str) -> None:
    event = partner_level(**{name: "cust-1"})
    error = refused(PA, event)
    assert (error.field, error.rule) == (name, "must be absent when scope is partner")
    assert not schema_accepts(PA, event)


@pytest.mark.parametrize("scope", [OMIT, None, "customer"])
@pytest.mark.parametrize("name", ["customer_id", "customer_name"])
def test_a_customer_action_still_requires_its_customer(scope: Any, name: str) -> None:
    for missing in (OMIT, None):
        event = valid_partner_action(scope=scope, **{name: missing})
        error = refused(PA, event)
        assert (error.field, error.rule) == (name, "is required")
        assert not schema_accepts(PA, event)


def test_an_unknown_scope_is_refused_for_writers_and_lifts_nothing_for_readers() -> None:
    error = refused(PA, valid_partner_action(scope="tenant"))
    assert (error.field, error.rule) == ("scope", "must be one of customer, partner")
    assert not schema_accepts(PA, valid_partner_action(scope="tenant"))
    # A reader keeps a scope it does not know, but only `partner` lifts the customer rule.
    kept = accepted(PA, valid_partner_action(scope="tenant"), lenient=True)
    assert isinstance(kept, PartnerAction) and kept.scope == "tenant" and not kept.partner_level
    no_customer = valid_partner_action(scope="tenant", customer_id=OMIT)
    assert refused(PA, no_customer, lenient=True).field == "customer_id"


def test_v1_events_keep_their_shape_key_and_row() -> None:
    event = valid_partner_action()
    model = accepted(PA, event)
    assert isinstance(model, PartnerAction)
    assert model.scope is None and not model.partner_level
    assert "scope" not in event_to_json_dict(model)  # a v1 producer's bytes are unchanged
    key, _, _ = encode_event(PA, event)
    assert key == event["customer_id"].encode()
    # The same event with `scope` absent, null or "customer" is the same row.
    rows = [
        _row(valid_partner_action(event_id=event["event_id"], scope=scope))
        for scope in (OMIT, None, "customer")
    ]
    for row in rows:
        row.pop("payload")
    assert rows[0] == rows[1] == rows[2]
    assert rows[0]["customer_id"] == event["customer_id"]
    assert rows[0]["customer_name"] == event["customer_name"]
    minimal = accepted(PA, minimal_partner_action())
    assert minimal.customer_id and minimal.customer_name


def test_a_partner_level_action_is_keyed_by_its_partner_everywhere() -> None:
    event = partner_level(partner_id="ptn-9")
    key, value, complete = encode_event(PA, event)
    assert key == b"ptn-9"
    assert "customer_id" not in orjson.loads(value)
    assert complete["scope"] == "partner"
    topic, bulk_key, _ = prepare_line(orjson.dumps(event))
    assert (topic, bulk_key) == (PA, b"ptn-9")
    _, unvalidated_key, _ = prepare_line(orjson.dumps(event), validate=False)
    assert unvalidated_key == b"ptn-9"
    out = event_to_json_dict(accepted(PA, event))
    assert out["scope"] == "partner" and "customer_id" not in out
    assert validate_event(PA, out).partner_level


def test_a_partner_level_row_has_no_customer_and_reads_well() -> None:
    row = _row(partner_level(outcome="failed", details={"rows": 3, "reason": "cancelled"}))
    assert row["customer_id"] == "" and row["customer_name"] == ""
    assert row["action_text"] == "Activity log exported"
    assert row["status_text"] == "Failed (export exp-1)"
    assert row["additional_info"] == "Rows: 3; Reason: cancelled"


def test_the_api_shows_a_partner_level_row_without_a_subscriptions_link() -> None:
    row = _row(partner_level())
    item = present({k: row[k] for k in ("event_id", "occurred_at", "customer_id", "details")})
    assert item["scope"] == "partner"
    assert item["subscriptions_url"] is None
    customer = present({"customer_id": "cust 1/2", "details": ""})
    assert customer["scope"] == "customer"
    assert customer["subscriptions_url"] == "/customers/cust%201%2F2/subscriptions"
