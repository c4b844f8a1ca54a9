"""Root of every kind of test: what must hold before any test module is imported.

The helpers in `tests/fixtures` assert on what they check (a CSV cell, an
accepted event, a record read back); pytest rewrites `assert` for the
introspected failure message only in test modules and conftest files unless
told, and only if told before the helpers are first imported, so here.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.fixtures")
