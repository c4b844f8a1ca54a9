"""The traffic simulator: deterministic, in range, contract-valid (docs/contracts.md), coherent."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from producers.simulate import (
    ACTIONS,
    ORDER_STATUSES,
    SimulationSpec,
    sample_month,
    simulate,
    write_jsonl,
)
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC, topic_for_event

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schemas" / "jsonschema"
START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 3, 31, tzinfo=UTC)

Pair = tuple[str, dict[str, Any]]


def _spec(**overrides: Any) -> SimulationSpec:
    fields: dict[str, Any] = {"seed": 42, "start": START, "end": END, "events": 5000}
    fields.update(overrides)
    return SimulationSpec(**fields)


@pytest.fixture(scope="module")
def run() -> list[Pair]:
    """The 5,000-event run most tests look at (default partners, customers, users)."""
    return list(simulate(_spec()))


def _events(pairs: Iterable[Pair]) -> list[dict[str, Any]]:
    return [event for _, event in pairs]


def _instant(event: Mapping[str, Any]) -> datetime:
    moment = datetime.fromisoformat(event["occurred_at"])
    assert moment.tzinfo is not None, event["occurred_at"]
    return moment


def _jsonl(spec: SimulationSpec) -> bytes:
    buffer = io.BytesIO()
    write_jsonl(simulate(spec), buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes() -> None:
    spec = _spec(events=3000)
    assert _jsonl(spec) == _jsonl(spec)


def test_output_does_not_depend_on_hash_randomization() -> None:
    """Another interpreter with another PYTHONHASHSEED writes the same bytes (no set order)."""
    script = (
        "import hashlib, io, sys\n"
        "from datetime import datetime, UTC\n"
        "from producers.simulate import SimulationSpec, simulate, write_jsonl\n"
        "spec = SimulationSpec(seed=42, start=datetime(2025, 3, 1, tzinfo=UTC),\n"
        "                      end=datetime(2025, 3, 31, tzinfo=UTC), events=2000)\n"
        "buffer = io.BytesIO(); write_jsonl(simulate(spec), buffer)\n"
        "sys.stdout.write(hashlib.sha256(buffer.getvalue()).hexdigest())\n"
    )
    expected = hashlib.sha256(_jsonl(_spec(events=2000))).hexdigest()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert done.stdout == expected


def test_different_seeds_give_different_output() -> None:
    assert _jsonl(_spec(seed=1, events=500)) != _jsonl(_spec(seed=2, events=500))


def test_generation_does_not_touch_global_random() -> None:
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    list(simulate(_spec(events=300)))
    assert random.random() == expected


# ---------------------------------------------------------------- counts, time, ids


def test_yields_exactly_the_requested_number_of_events(run: list[Pair]) -> None:
    assert len(run) == 5000


def test_event_count_derives_from_the_daily_rate_without_events() -> None:
    spec = SimulationSpec(
        seed=3, start=START, end=START + timedelta(days=2, hours=12), events_per_day=100
    )
    assert spec.total_events == 250
    assert len(list(simulate(spec))) == 250


def test_occurred_at_is_non_decreasing_and_inside_the_window(run: list[Pair]) -> None:
    instants = [_instant(event) for event in _events(run)]
    assert instants == sorted(instants)
    assert instants[0] >= START and instants[-1] <= END


def test_occurred_at_is_rfc3339_with_various_offsets(run: list[Pair]) -> None:
    rfc3339 = re.compile(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
    )  # the JSON Schema's `format: date-time` is not asserted without rfc3339-validator
    offsets: Counter[str] = Counter()
    for event in _events(run):
        stamp = event["occurred_at"]
        assert rfc3339.match(stamp), stamp
        offsets[stamp[-1] if stamp.endswith("Z") else stamp[-6:]] += 1
    assert offsets["Z"] > len(run) / 2  # mostly UTC
    assert offsets["+00:00"] > 0
    others = [offset for offset in offsets if offset not in ("Z", "+00:00")]
    assert {"+02:00", "-05:00"} <= set(others)


def test_event_ids_are_unique_version_4_uuids(run: list[Pair]) -> None:
    ids = [event["event_id"] for event in _events(run)]
    assert len(set(ids)) == len(ids)
    uuid4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert all(uuid4.match(event_id) for event_id in ids)


def test_a_zero_length_window_puts_every_event_at_that_instant() -> None:
    spec = _spec(start=START, end=START, events=50)
    assert {_instant(event) for event in _events(simulate(spec))} == {START}


def test_window_bounds_may_have_any_offset() -> None:
    paris = timezone(timedelta(hours=2))
    start = datetime(2025, 6, 1, 9, 0, 0, 123456, tzinfo=paris)
    end = start + timedelta(hours=3)
    instants = [_instant(event) for event in _events(simulate(_spec(start=start, end=end)))]
    assert instants[0] >= start and instants[-1] <= end


# ---------------------------------------------------------------- variety


def test_every_order_status_and_action_appears(run: list[Pair]) -> None:
    events = _events(run)
    assert {e["order_status"] for e in events if "order_status" in e} == set(ORDER_STATUSES)
    assert {e["action"] for e in events if "action" in e} == set(ACTIONS)


def test_action_outcomes_are_mostly_succeeded_with_some_failed_and_in_progress(
    run: list[Pair],
) -> None:
    actions = [e for e in _events(run) if "action" in e]
    outcomes = Counter(e.get("outcome", "succeeded") for e in actions)
    assert set(outcomes) == {"succeeded", "failed", "in_progress"}
    assert outcomes["succeeded"] > 0.85 * len(actions)
    assert any("outcome" not in e for e in actions)  # the contract's default is exercised
    for event in actions:
        if event.get("outcome") == "failed":
            assert event["details"]["reason"]


def test_order_share_is_close_to_the_spec(run: list[Pair]) -> None:
    share = sum(topic == ORDERS_TOPIC for topic, _ in run) / len(run)
    assert abs(share - 0.3) < 0.03
    assert all(topic == PARTNER_ACTIONS_TOPIC for topic, _ in simulate(_spec(order_share=0.0)))
    assert all(topic == ORDERS_TOPIC for topic, _ in simulate(_spec(order_share=1.0)))


def test_customer_names_exercise_scripts_quoting_and_formula_prefixes(run: list[Pair]) -> None:
    names = {event["customer_name"] for event in _events(run)}
    cjk = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7a3]")
    assert any(cjk.search(name) for name in names)
    assert any(ch in name for name in names for ch in "éèàçô")  # French accents
    assert any(ch in name for name in names for ch in "äöüß")  # German
    assert any(ch in name for name in names for ch in "ñí")  # Spanish
    assert any(ch in name for name in names for ch in "łżśęą")  # Polish
    assert any("," in name and '"' in name for name in names)
    assert {name[0] for name in names} & set("=+-@")
    assert any(len(name) >= 100 for name in names)


def test_partners_users_and_optional_fields_look_real(run: list[Pair]) -> None:
    events = _events(run)
    assert {e["partner_id"] for e in events} and all(
        e["partner_id"].startswith("ptn-") for e in events
    )
    assert len({e["partner_id"] for e in events}) == 3
    users = {e["partner_user"] for e in events}
    assert any("@" in user for user in users)  # UPNs
    assert any("@" not in user for user in users)  # app ids
    for field in ("correlation_id", "source", "actor_ip", "user_agent"):
        present = sum(field in e for e in events)
        assert 0 < present < len(events), field
    assert {"ordering-service", "billing", "identity"} <= {e.get("source") for e in events}


def test_orders_carry_one_to_ten_plausible_line_items(run: list[Pair]) -> None:
    orders = [e for e in _events(run) if "order_id" in e]
    counts = Counter(len(order["line_items"]) for order in orders)
    assert min(counts) == 1 and max(counts) == 10
    price = re.compile(r"^[0-9]+(\.[0-9]{2})?$")
    for order in orders:
        for item in order["line_items"]:
            assert item["product_name"] and item["quantity"] >= 1
            assert price.match(item["unit_price"]), item
            assert item["term"] in ("P1M", "P1Y")
            assert item["billing_cycle"] in ("monthly", "annual")
            assert not (item["term"] == "P1M" and item["billing_cycle"] == "annual")
            assert item["offer_id"] and item["sku"]


# ---------------------------------------------------------------- coherence


def _check_coherence(events: list[dict[str, Any]]) -> None:
    """Replay the events in order; every one must be possible in the state before it."""
    customers_seen: set[str] = set()
    created: set[str] = set()
    placed: dict[str, dict[str, Any]] = {}
    ended: dict[str, str] = {}
    completed_corr: dict[str, str] = {}
    completed_subs: set[str] = set()
    subs: dict[str, str] = {}  # subscription id -> active | suspended | cancelled
    quantity: dict[str, int] = {}
    ever_suspended: set[str] = set()
    users: dict[str, Counter[str]] = {}
    licenses: Counter[tuple[str, str]] = Counter()
    for event in events:
        customer = event["customer_id"]
        action = event.get("action")
        if customer not in customers_seen:
            customers_seen.add(customer)
            if action is not None:
                assert action == "customer.create", event
        if action == "customer.create":
            assert customer not in created
            created.add(customer)
            users[customer] = Counter([event["details"]["admin_user"]])
        elif action is not None:
            assert customer in created, event
        if "order_id" in event:
            order_id, status = event["order_id"], event["order_status"]
            if status == "placed":
                assert order_id not in placed
                placed[order_id] = event
                continue
            first = placed[order_id]  # an end needs an earlier `placed`
            assert order_id not in ended
            ended[order_id] = status
            assert event["correlation_id"] == first["correlation_id"]
            assert [i["product_name"] for i in event["line_items"]] == [
                i["product_name"] for i in first["line_items"]
            ]
            if status == "completed":
                completed_corr[order_id] = event["correlation_id"]
                completed_subs.update(i["subscription_id"] for i in event["line_items"])
            continue
        outcome = event.get("outcome", "succeeded")
        ok = outcome == "succeeded"
        details = event.get("details", {})
        if action == "subscription.create":
            sub = event["resource_id"]
            assert event["resource_type"] == "subscription"
            assert sub not in subs and sub in completed_subs
            assert completed_corr[details["order_id"]] == event["correlation_id"]
            subs[sub] = "active"
            quantity[sub] = details["quantity"]
        elif action is not None and action.startswith("subscription."):
            sub = event["resource_id"]
            assert event["resource_type"] == "subscription"
            state = subs[sub]
            if action == "subscription.quantity_change":
                assert state == "active", event
                assert details["old"]["quantity"] == quantity[sub], event
                if ok:
                    quantity[sub] = details["new"]["quantity"]
            elif action == "subscription.suspend":
                assert state == "active", event
                if ok:
                    subs[sub] = "suspended"
                    ever_suspended.add(sub)
            elif action == "subscription.reactivate":
                assert state == "suspended" and sub in ever_suspended, event
                if ok:
                    subs[sub] = "active"
            elif action == "subscription.cancel":
                assert state in ("active", "suspended"), event
                if ok:
                    subs[sub] = "cancelled"
        elif action in ("user.delete", "user.password_reset", "user.role_change"):
            assert users[customer][event["resource_name"]] > 0, event
            if action == "user.delete" and ok:
                users[customer][event["resource_name"]] -= 1
        elif action == "user.create" and ok:
            users[customer][event["resource_name"]] += 1
        elif action == "license.assign":
            assert subs[details["subscription_id"]] != "cancelled" or not ok
            if ok:
                licenses[details["user"], details["subscription_id"]] += 1
        elif action == "license.remove":
            pair = (details["user"], details["subscription_id"])
            assert licenses[pair] > 0, event
            if ok:
                licenses[pair] -= 1


def test_lifecycles_are_coherent(run: list[Pair]) -> None:
    _check_coherence(_events(run))


def test_lifecycles_stay_coherent_over_a_long_busy_run() -> None:
    _check_coherence(_events(simulate(_spec(seed=9, partners=2, customers_per_partner=5))))


def test_in_progress_actions_resolve_under_the_same_correlation_id(run: list[Pair]) -> None:
    by_correlation: dict[str, list[dict[str, Any]]] = {}
    for event in _events(run):
        if "correlation_id" in event:
            by_correlation.setdefault(event["correlation_id"], []).append(event)
    pending = [e for e in _events(run) if e.get("outcome") == "in_progress"]
    assert pending
    resolved = 0
    for event in pending:
        later = [e for e in by_correlation[event["correlation_id"]] if e is not event]
        assert len(later) <= 1  # resolved once, or not yet when the window ends
        if later:
            resolved += 1
            assert later[0]["action"] == event["action"]
            assert later[0]["resource_id"] == event["resource_id"]
            assert later[0].get("outcome", "succeeded") in ("succeeded", "failed")
            assert _instant(later[0]) >= _instant(event)
    assert resolved > len(pending) / 2


def test_renamed_customers_keep_their_id(run: list[Pair]) -> None:
    renames = [
        e
        for e in _events(run)
        if e.get("action") == "customer.update"
        and e.get("outcome", "succeeded") == "succeeded"
        and "name" in e["details"]["new"]
    ]
    assert renames
    events = _events(run)
    for rename in renames:
        after = [
            e
            for e in events[events.index(rename) + 1 :]
            if e["customer_id"] == rename["customer_id"]
        ]
        if after:
            assert after[0]["customer_name"] in (
                rename["details"]["new"]["name"],
                *(
                    r["details"]["new"]["name"]
                    for r in renames
                    if r["customer_id"] == rename["customer_id"]
                ),
            )


# ---------------------------------------------------------------- routing and contracts


def test_topic_for_event_routes_by_shape() -> None:
    assert topic_for_event({"order_id": "o-1"}) == ORDERS_TOPIC
    assert topic_for_event({"line_items": [{"product_name": "X", "quantity": 1}]}) == ORDERS_TOPIC
    assert topic_for_event({"action": "user.create"}) == PARTNER_ACTIONS_TOPIC
    assert topic_for_event({"action": "subscription.create", "details": {"order_id": "o"}}) == (
        PARTNER_ACTIONS_TOPIC
    )


def test_simulated_topics_agree_with_topic_for_event(run: list[Pair]) -> None:
    assert all(topic == topic_for_event(event) for topic, event in run)
    assert {topic for topic, _ in run} == {ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC}


@cache
def _validators() -> dict[str, Draft202012Validator]:
    """Validators built from the published JSON Schema files, independent of our Python types."""
    files = {
        PARTNER_ACTIONS_TOPIC: SCHEMA_DIR / "partner-action.v1.json",
        ORDERS_TOPIC: SCHEMA_DIR / "order.v1.json",
    }
    validators = {}
    for topic, path in files.items():
        assert path.exists(), f"{path} is missing: run the schema generator"
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        validators[topic] = Draft202012Validator(schema, format_checker=FormatChecker())
    return validators


def _assert_valid(pairs: Iterable[Pair]) -> None:
    validators = _validators()
    for topic, event in pairs:
        errors = sorted(validators[topic].iter_errors(event), key=lambda e: list(e.path))
        assert not errors, f"{event['event_id']}: {errors[0].message} at {list(errors[0].path)}"


def test_every_event_validates_against_the_json_schema_files(run: list[Pair]) -> None:
    _assert_valid(run)


def test_edge_specs_validate_too() -> None:
    _assert_valid(simulate(_spec(events=2000, order_share=1.0, failure_rate=1.0)))
    _assert_valid(simulate(_spec(events=2000, order_share=0.0, failure_rate=0.0)))


# ---------------------------------------------------------------- JSONL


def test_write_jsonl_writes_one_compact_utf8_object_per_line(tmp_path: Path) -> None:
    pairs = list(simulate(_spec(events=700)))
    path = tmp_path / "events.jsonl"
    assert write_jsonl(pairs, path) == 700
    data = path.read_bytes()
    assert data.endswith(b"\n") and b"\r" not in data
    lines = data.split(b"\n")[:-1]
    assert [orjson.loads(line) for line in lines] == _events(pairs)
    assert all(b": " not in line[:40] for line in lines)  # compact separators
    assert "深圳".encode() in data or "株式会社".encode() in data  # not \\u-escaped
    assert write_jsonl(pairs, str(path)) == 700 and path.read_bytes() == data


def test_write_jsonl_accepts_a_text_stream() -> None:
    pairs = list(simulate(_spec(events=100)))
    text = io.StringIO()
    assert write_jsonl(pairs, text) == 100
    assert text.getvalue().encode("utf-8") == _jsonl(_spec(events=100))


def test_jsonl_lines_route_back_to_their_topics(tmp_path: Path) -> None:
    pairs = list(simulate(_spec(events=400)))
    path = tmp_path / "events.jsonl"
    write_jsonl(pairs, path)
    lines = path.read_bytes().splitlines()
    assert [topic_for_event(orjson.loads(line)) for line in lines] == [t for t, _ in pairs]


# ---------------------------------------------------------------- the spec


def test_sample_month_covers_the_thirty_days_before_end() -> None:
    end = datetime(2025, 5, 1, 12, 30, tzinfo=UTC)
    spec = sample_month(end=end)
    assert (spec.seed, spec.events, spec.end) == (7, 2000, end)
    assert spec.start == end - timedelta(days=30)
    assert len(list(simulate(spec))) == 2000


def test_sample_month_defaults_to_now_truncated_to_the_minute() -> None:
    spec = sample_month(seed=1, events=10)
    now = datetime.now(UTC)
    assert spec.end.tzinfo is not None
    assert spec.end.second == 0 and spec.end.microsecond == 0
    assert timedelta(0) <= now - spec.end < timedelta(minutes=2)


@pytest.mark.parametrize(
    "overrides",
    [
        {"start": datetime(2025, 1, 1)},  # naive
        {"end": datetime(2025, 1, 1)},
        {"end": START - timedelta(seconds=1)},
        {"partners": 0},
        {"customers_per_partner": 0},
        {"users_per_partner": 0},
        {"events": -1},
        {"order_share": 1.5},
        {"failure_rate": -0.1},
        {"events_per_day": float("nan")},
    ],
)
def test_spec_rejects_values_it_cannot_simulate(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _spec(**overrides)


# ---------------------------------------------------------------- properties

_windows = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(milliseconds=3)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=-(2**70), max_value=2**70),
    partners=st.integers(1, 3),
    customers=st.integers(1, 6),
    users=st.integers(1, 3),
    events=st.integers(0, 160),
    start=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
    ),
    window=_windows,
    order_share=st.floats(0.0, 1.0),
    failure_rate=st.floats(0.0, 1.0),
)
def test_any_small_spec_generates_valid_in_range_events(
    seed: int,
    partners: int,
    customers: int,
    users: int,
    events: int,
    start: datetime,
    window: timedelta,
    order_share: float,
    failure_rate: float,
) -> None:
    spec = SimulationSpec(
        seed=seed,
        partners=partners,
        customers_per_partner=customers,
        users_per_partner=users,
        start=start,
        end=start + window,
        events=events,
        order_share=order_share,
        failure_rate=failure_rate,
    )
    pairs = list(simulate(spec))
    assert len(pairs) == events
    instants = [_instant(event) for _, event in pairs]
    assert instants == sorted(instants)
    assert all(spec.start <= moment <= spec.end for moment in instants)
    assert all(topic == topic_for_event(event) for topic, event in pairs)
    assert len({event["event_id"] for _, event in pairs}) == events
    _assert_valid(pairs)
    _check_coherence(_events(pairs))
