"""`make soak`: 10 minutes of steady load at half the measured capacity; docs/reliability.md.

    python -m tests.soak                       # measure capacity, then 10 min at half of it
    python -m tests.soak --minutes 2 --rate 3000 --no-docs

Exits non-zero when a pass criterion fails (the lag bound, flat memory, no errors).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos.figures import markdown_table, text_table, write_section
from tests.soak.series import percentile
from tests.soak.steady_load import SoakConfig, SoakResult, run_soak


def summary_rows(result: SoakResult) -> list[tuple[str, str]]:
    """The figures a reader checks, with the pass criteria stated."""
    config = result.config
    lat = result.latencies
    rss = [s.rss_mb for s in result.samples if s.rss_mb is not None]
    cpu = [s for s in result.samples if s.cpu_s is not None]
    cpu_share = (
        (cpu[-1].cpu_s - cpu[0].cpu_s) / (cpu[-1].t_s - cpu[0].t_s)  # type: ignore[operator]
        if len(cpu) > 1 and cpu[-1].t_s > cpu[0].t_s
        else 0.0
    )
    capacity = (
        f"{result.capacity:,.0f} events/s measured (200,000-event backlog, one worker)"
        if result.capacity
        else "not measured (rate given)"
    )
    return [
        ("capacity", capacity),
        (
            "steady load",
            f"{result.rate:,.0f} events/s for {config.minutes:g} min: {result.sent:,} events, "
            f"{result.delivered:,} acknowledged, {result.failed} failed",
        ),
        (
            f"consumer lag (bound: {config.lag_bound_s:g} s of traffic = {result.lag_bound:,})",
            f"max {result.max_lag:,}, median "
            f"{percentile([float(s.lag) for s in result.samples if s.lag is not None], 50):,.0f}"
            f"; back to 0 {result.drained_s:.1f} s after the stream",
        ),
        (
            f"serve RSS, worker + API + chDB (flat: slope over the last "
            f"{config.flat_window_s / 60:g} min < {config.rss_slope_limit:g} MB/min)",
            f"start {rss[0]:.0f} MB, max {max(rss):.0f} MB, end {rss[-1]:.0f} MB; "
            f"slope {result.rss_slope:+.2f} MB/min"
            if rss
            else "-",
        ),
        ("serve CPU", f"{cpu_share * 100:.0f}% of one core on average"),
        (
            f"machine load, 1-min average ({os.cpu_count()} cores)",
            f"median {percentile([s.load1 for s in result.samples], 50):.1f}, "
            f"max {max((s.load1 for s in result.samples), default=0):.1f}",
        ),
        (
            "first page (100 rows, one partner) under load",
            f"p50 {percentile(lat, 50):.1f} ms, p99 {percentile(lat, 99):.1f} ms, "
            f"max {max(lat, default=0):.1f} ms ({len(lat)} requests)",
        ),
        (
            "first page, worker idle after the load (reference, same rows)",
            f"p50 {percentile(result.idle_latencies, 50):.1f} ms, "
            f"p99 {percentile(result.idle_latencies, 99):.1f} ms "
            f"({len(result.idle_latencies)} requests)",
        ),
        (
            "errors (publisher, API, serve log)",
            f"{result.failed} / {result.api_errors} / {len(result.log_errors)}"
            + "".join(f"; {n} x {kind}" for kind, n in result.error_kinds.most_common(3)),
        ),
        ("samples", f"{len(result.samples)}, every {config.sample_s:g} s"),
    ]


def minute_rows(result: SoakResult) -> list[str]:
    """The series, one line a minute: the shape a regression would show."""
    lines = ["| minute | events sent | lag max | RSS MB (end) | page p50 ms | page p99 ms | load |"]
    lines.append("|---|---|---|---|---|---|---|")
    minutes = int(max((s.t_s for s in result.samples), default=0) // 60) + 1
    for m in range(minutes):
        group = [s for s in result.samples if m * 60 <= s.t_s < (m + 1) * 60]
        if not group:
            continue
        lat = [ms for s in group for ms in s.latencies_ms]
        lags = [s.lag for s in group if s.lag is not None]
        lines.append(
            f"| {m + 1} | {group[-1].sent:,} | {max(lags, default=0):,} | "
            f"{group[-1].rss_mb or 0:.0f} | {percentile(lat, 50):.1f} | {percentile(lat, 99):.1f} "
            f"| {group[-1].load1:.1f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=None, help="events/s (default: measure)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/reliability.md")
    parser.add_argument("--note", default="", help="a word on the machine's load, for the docs")
    args = parser.parse_args(argv)
    config = replace(SoakConfig(), minutes=args.minutes, rate=args.rate, seed=args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="activitylog-soak-"))
    try:
        result = run_soak(config, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = summary_rows(result)
    series = minute_rows(result)
    print()
    print(text_table(rows))
    print()
    print("\n".join(series))
    problems = result.problems()
    print()
    print("FAILED:\n  " + "\n  ".join(problems) if problems else "OK: all pass criteria held")
    command = "python -m tests.soak" + (
        f" --minutes {args.minutes:g}" if args.minutes != 10 else ""
    )
    command += f" --rate {args.rate:g}" if args.rate else ""
    if not args.no_docs:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = (
            "## Soak (`make soak`, not in CI)\n\n"
            f"Last run {when}, `{command}`{', ' + args.note if args.note else ''}"
            f"{' (FAILED: ' + '; '.join(problems) + ')' if problems else ' (all criteria held)'}."
            "\n\n" + markdown_table(rows) + "\n\nPer minute:\n\n" + "\n".join(series)
        )
        print(f"figures written to {write_section('soak', body)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
