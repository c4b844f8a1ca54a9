"""The chaos scenario at `make test` size: 20,000 events, 3 kills, a broker restart, 5 s outage.

Its own broker and store (nothing shared is restarted). The fault plan's seed
is random and printed in every failure message, so a failing run replays with
`python -m tests.chaos --subset --seed N`.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path

from tests.chaos.figures import chaos_rows, text_table
from tests.chaos.scenario import ChaosConfig, run_chaos
from tests.fixtures.capabilities import missing_root, opted_out_of_root, tmpfs_mountable


def test_stream_under_kills_broker_restart_and_store_outage_keeps_every_event_once(
    tmp_path: Path,
) -> None:
    # The store outage needs root: without it the run fails here, before streaming,
    # unless it opted out (then it runs without the outage and says so).
    cannot_mount = tmpfs_mountable(tmp_path / "tmpfs-probe")
    if cannot_mount and not opted_out_of_root():
        missing_root(f"the store outage cannot be injected: {cannot_mount}")
    seed = random.SystemRandom().randrange(10**6)
    result = run_chaos(ChaosConfig.subset(seed), tmp_path)
    table = text_table(chaos_rows(result))
    print(table)
    replay = f"replay: python -m tests.chaos --subset --seed {seed}\n{table}"
    if result.store_outage_skipped:
        warnings.warn(f"store outage not injected: {result.store_outage_skipped}", stacklevel=1)

    assert result.problems() == [], replay
    assert result.delivered == result.sent == 20_000, replay
    # Every planned fault happened (the outage only where a tmpfs can be mounted).
    assert result.count("kill_worker") == 3, replay
    assert result.count("restart_broker") == 1, replay
    assert result.count("store_outage") == (0 if result.store_outage_skipped else 1), replay
    for fault in result.faults:
        if fault.kind == "store_outage":
            # The outage was real: inserts failed while the store was full.
            assert fault.figures["failed_inserts"] >= 1, replay
    assert result.rows_lost == result.store_rows_lost == result.duplicates_visible == 0, replay
    # Each fault struck while events were still streaming in.
    assert all(fault.during_stream for fault in result.faults), replay
    # A killed worker's unacknowledged batch was stored again: "no duplicates visible"
    # held against real duplicates in the store, which the reads hid.
    assert result.rows_inserted > result.delivered, replay
