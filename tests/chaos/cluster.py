"""`make chaos`'s cluster part: brokers of a 3-node cluster killed under a stream.

    python -m tests.chaos.cluster               # 400 events/s, 4,000 between faults
    python -m tests.chaos.cluster --seed 42     # replay a run's streams
    python -m tests.chaos.cluster --subset      # the smaller run `make test` does

Exits non-zero when an acknowledged event is lost, shows twice, is not
committed, or a fault did not strike.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from tests.chaos.cluster_scenario import ClusterChaosConfig, cluster_rows, run_cluster_chaos
from tests.chaos.figures import report_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=None, help="the streams' events (random)")
    parser.add_argument("--subset", action="store_true", help="the `make test` size")
    parser.add_argument("--rate", type=float, help="events per second")
    parser.add_argument("--between", type=int, help="events acknowledged between faults")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/reliability.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    config = ClusterChaosConfig.subset(seed) if args.subset else ClusterChaosConfig.full(seed)
    if args.rate is not None:
        config = replace(config, rate=args.rate)
    if args.between is not None:
        config = replace(config, events_between_faults=args.between)
    command = "python -m tests.chaos.cluster " + " ".join(
        (["--subset"] if args.subset else [])
        + ([f"--rate {args.rate:g}"] if args.rate is not None else [])
        + ([f"--between {args.between}"] if args.between is not None else [])
        + [f"--seed {seed}"]
    )
    workdir = Path(tempfile.mkdtemp(prefix="activitylog-chaos-cluster-"))
    print(f"work directory {workdir}")
    try:
        result = run_cluster_chaos(config, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return report_run(
        cluster_rows(result),
        result.problems(),
        command,
        ok="OK: nothing acknowledged lost",
        section="chaos-cluster",
        title="Broker faults on a 3-node cluster (`make chaos`, cluster part)",
        write_docs=not args.no_docs,
    )


if __name__ == "__main__":
    sys.exit(main())
