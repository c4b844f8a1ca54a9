"""`make chaos`: the full fault-injection scenario, its figure table, docs/reliability.md.

    python -m tests.chaos                 # 200,000 events, 10 kills, broker restart, 30 s outage
    python -m tests.chaos --seed 42       # replay a run's fault plan
    python -m tests.chaos --subset        # the smaller run `make test` does

Exits non-zero when an event is lost, shows twice, or is not committed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from tests.chaos.figures import chaos_rows, report_run
from tests.chaos.scenario import ChaosConfig, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=None, help="fault plan and events (random)")
    parser.add_argument("--subset", action="store_true", help="the `make test` size")
    parser.add_argument("--events", type=int, help="events to stream")
    parser.add_argument("--rate", type=float, help="events per second")
    parser.add_argument("--kills", type=int, help="kill -9 of the worker")
    parser.add_argument("--outage", type=float, help="seconds the store is unavailable")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/reliability.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    config = ChaosConfig.subset(seed) if args.subset else ChaosConfig.full(seed)
    overrides = {
        "events": args.events,
        "rate": args.rate,
        "kills": args.kills,
        "store_outage_s": args.outage,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    command = "python -m tests.chaos " + " ".join(
        (["--subset"] if args.subset else [])
        + [
            f"--{k.replace('store_outage_s', 'outage')} {v:g}"
            for k, v in overrides.items()
            if v is not None
        ]
        + [f"--seed {seed}"]
    )
    workdir = Path(tempfile.mkdtemp(prefix="activitylog-chaos-"))
    try:
        result = run_chaos(config, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return report_run(
        chaos_rows(result),
        result.problems(),
        command,
        ok="OK: nothing lost, nothing twice",
        section="chaos",
        title="Fault injection (`make chaos`)",
        write_docs=not args.no_docs,
    )


if __name__ == "__main__":
    sys.exit(main())
