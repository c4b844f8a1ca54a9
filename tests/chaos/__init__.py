"""Fault injection: the pipeline keeps every event exactly once while its parts fail.

`python -m tests.chaos` (`make chaos`) runs the full scenario and writes its
figures to docs/reliability.md; `test_chaos_subset.py` runs a smaller one in
`make test`. The scenario itself is in `scenario.py`.
"""
