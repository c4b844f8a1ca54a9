"""Soak: steady load for minutes; lag stays bounded, memory flat, no errors.

`python -m tests.soak` (`make soak`, not in CI). The run is in `steady_load.py`,
the statistics in `series.py`.
"""
