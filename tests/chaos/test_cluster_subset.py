"""The cluster scenario at `make test` size: three nodes killed with kill -9, then two at once.

Its own 3-node cluster and two workers (nothing shared is killed). The
streams' seed is random and printed in every failure message, so a failing
run replays with `python -m tests.chaos.cluster --subset --seed N`.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.chaos.cluster_scenario import ClusterChaosConfig, cluster_rows, run_cluster_chaos
from tests.chaos.figures import text_table


def test_stream_rides_through_broker_kills_and_accounts_for_every_record_without_quorum(
    tmp_path: Path,
) -> None:
    seed = random.SystemRandom().randrange(10**6)
    result = run_cluster_chaos(ClusterChaosConfig.subset(seed), tmp_path)
    table = text_table(cluster_rows(result))
    print(table)
    replay = f"replay: python -m tests.chaos.cluster --subset --seed {seed}\n{table}"

    assert result.problems() == [], replay
    # Three single-node faults, each while the stream ran, the last on the controller;
    # each moved at least one partition's leadership or the controller.
    assert [f.kind for f in result.faults] == ["leader", "leader", "controller"], replay
    assert all(f.during_stream for f in result.faults), replay
    assert result.faults[0].led >= 1 and result.faults[1].led >= 1, replay
    assert result.faults[0].node != result.faults[1].node, replay
    assert result.failed == 0 and result.delivered == result.sent > 0, replay
    # Without a quorum, writes failed and every failure is kept with its bytes.
    outage = result.outage
    assert len(outage.nodes_killed) == 2, replay
    assert outage.failed >= 1 and outage.failed_bytes > 0, replay
    assert outage.acked + outage.failed + outage.unanswered == outage.sent, replay
    assert outage.workers_alive, replay
    assert result.rows_lost == result.store_rows_lost == result.duplicates_visible == 0, replay
