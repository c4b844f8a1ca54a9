"""The cluster scenario's pure parts: the longest stall between progress marks."""

from __future__ import annotations

import pytest

from tests.chaos.cluster_scenario import longest_gap


def test_longest_gap_counts_from_the_fault_to_the_first_progress_and_to_the_end() -> None:
    assert longest_gap([11.0, 12.0, 20.0], 10.0, 21.0) == pytest.approx(8.0)
    assert longest_gap([10.5], 10.0, 30.0) == pytest.approx(19.5)


def test_no_progress_at_all_is_the_whole_window_and_marks_outside_it_are_ignored() -> None:
    assert longest_gap([], 5.0, 9.0) == pytest.approx(4.0)
    assert longest_gap([1.0, 2.0, 50.0], 5.0, 9.0) == pytest.approx(4.0)
