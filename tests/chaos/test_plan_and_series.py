"""Pure parts of the reliability runs: the seeded fault plan, the soak's statistics, the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.figures import write_section
from tests.chaos.plan import plan_faults
from tests.soak.series import Sample, last_window, percentile, slope_per_minute


def test_same_seed_same_plan_and_every_fault_planned_once() -> None:
    one = plan_faults(7, kills=10, broker_restarts=1, store_outages=1, pause_range=(2, 6))
    assert one == plan_faults(7, kills=10, broker_restarts=1, store_outages=1, pause_range=(2, 6))
    assert [f.kind for f in one].count("kill_worker") == 10
    assert [f.kind for f in one].count("restart_broker") == 1
    assert [f.kind for f in one].count("store_outage") == 1
    assert all(2 <= f.pause_s <= 6 for f in one)
    other = plan_faults(8, kills=10, broker_restarts=1, store_outages=1, pause_range=(2, 6))
    assert other != one


def test_plan_rejects_an_inverted_pause_range() -> None:
    with pytest.raises(ValueError, match="pause_range"):
        plan_faults(1, kills=1, broker_restarts=0, store_outages=0, pause_range=(5, 1))


def test_slope_is_in_units_per_minute_and_flat_series_have_none() -> None:
    assert slope_per_minute([(0, 100.0), (60, 101.0), (120, 102.0)]) == pytest.approx(1.0)
    assert slope_per_minute([(t, 500.0) for t in range(0, 300, 5)]) == 0.0
    assert slope_per_minute([(0, 1.0)]) == 0.0


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_last_window_keeps_the_tail() -> None:
    samples = [Sample(float(t), 0, 0, 1.0, 0.0, (), 0) for t in range(0, 600, 5)]
    tail = last_window(samples, 300)
    assert tail[0].t_s == 295 and tail[-1].t_s == 595


def test_each_run_rewrites_only_its_own_docs_section(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    write_section("chaos", "chaos v1", doc)
    write_section("soak", "soak v1", doc)
    write_section("chaos", "chaos v2", doc)
    text = doc.read_text()
    assert "chaos v2" in text and "chaos v1" not in text and "soak v1" in text
    assert text.index("chaos v2") < text.index("soak v1")
