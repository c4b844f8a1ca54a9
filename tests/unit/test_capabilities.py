"""A missing capability fails the test unless the run opts out by name."""

from __future__ import annotations

import pytest

from tests.fixtures.capabilities import WITHOUT_ROOT, missing_root


def test_without_the_opt_out_a_missing_capability_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WITHOUT_ROOT, raising=False)
    with pytest.raises(pytest.fail.Exception, match=WITHOUT_ROOT):
        missing_root("cannot mount")


def test_with_the_opt_out_it_skips_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WITHOUT_ROOT, "1")
    with pytest.raises(pytest.skip.Exception, match="cannot mount"):
        missing_root("cannot mount")
