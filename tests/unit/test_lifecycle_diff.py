"""The expanded row's before/after diff (`diff_changes`) and lifecycle shaping, as pure logic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from query.reads.lifecycle import MAX_CHANGES, MAX_DEPTH, MAX_STEPS, diff_changes, lifecycle_steps


def fields(changes: list[dict[str, Any]] | None) -> dict[str, tuple[Any, ...]]:
    assert changes is not None
    return {c["field"]: (c["change"], c.get("old", "-"), c.get("new", "-")) for c in changes}


def test_only_the_fields_that_changed_are_listed() -> None:
    details = {
        "old": {"quantity": 5, "status": "active", "term": "P1Y"},
        "new": {"quantity": 8, "status": "active", "term": "P1Y"},
        "order_id": "ord-1",
    }
    assert diff_changes(details) == [
        {"field": "quantity", "path": ["quantity"], "change": "changed", "old": 5, "new": 8}
    ]


def test_nested_objects_are_compared_field_by_field() -> None:
    details = {
        "old": {"address": {"city": "Lyon", "zip": "69001", "geo": {"lat": 45.7}}, "seats": 3},
        "new": {"address": {"city": "Paris", "zip": "69001", "geo": {"lat": 48.8}}, "seats": 3},
    }
    assert fields(diff_changes(details)) == {
        "address.city": ("changed", "Lyon", "Paris"),
        "address.geo.lat": ("changed", 45.7, 48.8),
    }
    assert diff_changes(details)[1]["path"] == ["address", "geo", "lat"]  # type: ignore[index]


def test_added_and_removed_keys_are_marked_and_null_is_a_value() -> None:
    details = {
        "old": {"role": "reader", "mfa": None, "nested": {"gone": 1}},
        "new": {"role": "admin", "mfa": True, "nested": {"came": 2}, "license": "E3"},
    }
    changes = diff_changes(details)
    assert fields(changes) == {
        "role": ("changed", "reader", "admin"),
        "mfa": ("changed", None, True),
        "nested.gone": ("removed", 1, "-"),
        "nested.came": ("added", "-", 2),
        "license": ("added", "-", "E3"),
    }
    added = next(c for c in changes or [] if c["field"] == "license")
    assert "old" not in added  # absent, not null


def test_an_object_replaced_by_a_scalar_and_lists_compare_as_whole_values() -> None:
    details = {
        "old": {"owner": {"id": 1}, "tags": ["a", "b"], "same": [1, 2]},
        "new": {"owner": "nobody", "tags": ["a", "c"], "same": [1, 2]},
    }
    assert fields(diff_changes(details)) == {
        "owner": ("changed", {"id": 1}, "nobody"),
        "tags": ("changed", ["a", "b"], ["a", "c"]),
    }


def test_json_types_differ_even_where_python_equality_does_not() -> None:
    assert fields(diff_changes({"old": {"on": 1, "n": 1.0}, "new": {"on": True, "n": 1}})) == {
        "on": ("changed", 1, True),
        "n": ("changed", 1.0, 1),
    }


def test_a_lone_new_or_old_object_lists_every_field_as_added_or_removed() -> None:
    assert fields(diff_changes({"new": {"quantity": 3}})) == {"quantity": ("added", "-", 3)}
    assert fields(diff_changes({"old": {"quantity": 3}, "new": None})) == {
        "quantity": ("removed", 3, "-")
    }


@pytest.mark.parametrize(
    "details",
    [
        None,
        "text",
        [],
        {},
        {"quantity": 3},
        {"old": 5, "new": 8},
        {"old": "a", "new": {"x": 1}},
        {"old": [1], "new": [2]},
    ],
)
def test_details_without_an_old_new_pair_of_objects_have_no_diff(details: Any) -> None:
    assert diff_changes(details) is None


def test_identical_objects_give_an_empty_diff() -> None:
    assert diff_changes({"old": {"a": {"b": 1}}, "new": {"a": {"b": 1}}}) == []


def test_the_diff_is_bounded_in_size_and_depth() -> None:
    wide = {"old": {f"k{i}": i for i in range(1000)}, "new": {f"k{i}": -i for i in range(1000)}}
    assert len(diff_changes(wide) or []) == MAX_CHANGES
    deep_old: dict[str, Any] = {"v": 1}
    deep_new: dict[str, Any] = {"v": 2}
    for _ in range(50):
        deep_old, deep_new = {"d": deep_old}, {"d": deep_new}
    (only,) = diff_changes({"old": deep_old, "new": deep_new}) or []
    assert len(only["path"]) == MAX_DEPTH and only["change"] == "changed"


json_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_objects = st.recursive(
    st.dictionaries(st.text(max_size=4), json_leaves, max_size=4),
    lambda inner: st.dictionaries(st.text(max_size=4), json_leaves | inner, max_size=4),
    max_leaves=12,
)


def _apply(old: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """Replay a diff onto `old`: it must rebuild `new` exactly."""
    import copy

    out = copy.deepcopy(old)
    for change in changes:
        *parents, last = change["path"]
        target = out
        for name in parents:
            target = target.setdefault(name, {})
        if change["change"] == "removed":
            del target[last]
        else:
            target[last] = change["new"]
    return out


# No deadline: a shared CI machine's pauses are not the code's speed.
@settings(deadline=None)
@given(json_objects, json_objects)
def test_replaying_the_diff_on_old_gives_new(old: dict[str, Any], new: dict[str, Any]) -> None:
    changes = diff_changes({"old": old, "new": new})
    assert changes is not None
    assert all(c["change"] in ("added", "removed", "changed") for c in changes)
    if len(changes) < MAX_CHANGES:
        assert _apply(old, changes) == new
    if old == new and repr(old) == repr(new):
        assert changes == []


def _row(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "occurred_at": datetime(2026, 11, 1, 10, n, tzinfo=UTC),
        "kind": "order",
        "action": "order.placed",
        "action_text": "Order placed: M365",
        "status": "placed",
        "status_text": "Order o1: placed",
        "partner_user": "ana@p.example",
        "order_id": "o1",
        **extra,
    }


def test_lifecycle_steps_mark_the_current_record_and_keep_the_order() -> None:
    rows = [_row(0), _row(5, action="order.completed", status="completed")]
    value = lifecycle_steps("corr-1", rows, "e5")
    assert value["correlation_id"] == "corr-1" and value["truncated"] is False
    assert [(s["event_id"], s["status"], s["current"]) for s in value["steps"]] == [
        ("e0", "placed", False),
        ("e5", "completed", True),
    ]
    assert value["steps"][0]["occurred_at"] == "2026-11-01T10:00:00.000Z"


def test_a_long_lifecycle_is_cut_and_says_so() -> None:
    rows = [_row(n % 60) for n in range(MAX_STEPS + 1)]
    value = lifecycle_steps("c", rows, "e0")
    assert len(value["steps"]) == MAX_STEPS and value["truncated"] is True
