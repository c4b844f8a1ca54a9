"""`make bench-scale`: the reads of the web page and the API on a store of ROWS rows.

    .venv/bin/python -m tests.bench.bench_scale [--rows N] [--samples N] [--seed N] [--keep DIR]

1. Generates the store inside ClickHouse with the project's migrations
   (`tests.bench.scale_store`: one partner with a tenth of the rows, 2,000 others,
   200,000 customers, three years ending now, a few exact duplicates), or reuses
   the one in `--keep DIR`.
2. Serves it with a real `activitylog api` process, with a key for the biggest
   partner and an all-partners key, and times over HTTP, `--samples` times
   each after a warm-up: the first page over the default range, a page filtered
   by a customer-name substring over one year, one record by event id (both
   keys), a customer's Subscriptions page, and one year's CSV export (the
   median rows/s and RSS growth of 5, and the largest growth);
   then the server's RSS, idle.
3. Does it twice: with the parts as generated (merges pending; the API process
   may merge some while it runs, so the part counts before and after are
   printed) and after `OPTIMIZE TABLE ... FINAL` of activity and its access paths.

Each figure is printed beside its goal with PASS or MISS; a benchmark never
fails on a number. Not part of `make test` or `make bench`.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx

from query.headers import ROWS_HEADER
from tests.bench.api_process import RssSampler, api_server

BIG_KEY: Final = "k-scale-big"
ALL_KEY: Final = "k-scale-all"
WARMUP: Final = 5
# Timed exports per phase: one varies by 10% from the next on 2 cores; the median is printed.
EXPORT_SAMPLES: Final = 5
META: Final = "bench-scale.json"
FLAT_EXPORT_GROWTH: Final = 100_000_000  # bytes of RSS an export may add and still be "flat"
GB: Final = 1_000_000_000


@dataclass
class Phase:
    """The figures of one state of the store (fresh parts, or merged)."""

    name: str
    parts_before: int
    parts_after: int = 0
    bytes_per_row: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    export_rows_per_s: float = 0.0
    export_rows: int = 0
    export_growth: int = 0  # the median of the timed exports'
    export_growth_max: int = 0
    export_error: str = ""  # what the server answered when an export failed
    idle_rss: int = 0
    idle_rss_file: int = 0
    disk_by_table: dict[str, int] = field(default_factory=dict)
    stored_rows: int = 0


# The timed reads, in the order: label and goal (p99).
READS: Final[dict[str, tuple[str, float]]] = {
    "first_page": ("first page, big partner, default range", 100),
    "name_filter": ("page filtered by a customer-name substring, one year", 300),
    "record_partner": ("one record by event id, partner key", 50),
    "record_all": ("one record by event id, all-partners key", 50),
    "subscriptions": ("a customer's Subscriptions page", 150),
}


def percentile(samples: list[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1) of the samples."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(len(ordered) * q)) - 1]


def _store_step(*args: str) -> dict[str, Any]:
    """Run one `tests.bench.scale_store` step in a child process (one chDB engine each)."""
    child = subprocess.run(
        [sys.executable, "-m", "tests.bench.scale_store", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    if child.returncode != 0:
        raise RuntimeError(f"store step {args[0]} failed (exit {child.returncode})")
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


@contextmanager
def _client(url: str, key: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        yield client


def _timed(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> float:
    """Milliseconds from sending the request to the last byte of a 200 answer."""
    started = time.perf_counter()
    response = client.get(path, params=params)
    took = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} {params}: {response.status_code} {response.text[:300]}")
    return took


def _series(samples: int, call: Callable[[int], float]) -> list[float]:
    for i in range(WARMUP):
        call(i)
    return [call(WARMUP + i) for i in range(samples)]


def _measure_reads(
    url: str, survey: dict[str, Any], samples: int, year: dict[str, str]
) -> dict[str, list[float]]:
    ids, customers, names = survey["event_ids"], survey["customers"], survey["names"]

    def pick(values: list[str], i: int) -> str:
        return values[i % len(values)]

    with _client(url, BIG_KEY) as big, _client(url, ALL_KEY) as every:
        return {
            "first_page": _series(samples, lambda i: _timed(big, "/api/v1/activity")),
            "name_filter": _series(
                samples,
                lambda i: _timed(big, "/api/v1/activity", {**year, "customer": pick(names, i)}),
            ),
            "record_partner": _series(
                samples, lambda i: _timed(big, f"/api/v1/activity/{pick(ids, i)}")
            ),
            "record_all": _series(
                samples, lambda i: _timed(every, f"/api/v1/activity/{pick(ids, i)}")
            ),
            "subscriptions": _series(
                samples,
                lambda i: _timed(big, f"/api/v1/customers/{pick(customers, i)}/subscriptions"),
            ),
        }


class ExportFailed(RuntimeError):
    """The server answered the export with an error: a figure of its own, not a crash."""


def _measure_export(url: str, pid: int, year: dict[str, str]) -> tuple[int, float, int]:
    """One year's CSV of the big partner, streamed and dropped: rows, rows/s, RSS growth."""
    with _client(url, BIG_KEY) as client, RssSampler(pid) as rss:
        before = rss.rss()
        started = time.perf_counter()
        with client.stream("GET", "/api/v1/activity/export", params={**year, "format": "csv"}) as r:
            if r.status_code != 200:
                raise ExportFailed(f"{r.status_code} {r.read()[:400].decode(errors='replace')}")
            received = sum(len(chunk) for chunk in r.iter_raw())
            rows = int(r.headers[ROWS_HEADER])
        took = time.perf_counter() - started
    if received == 0:
        raise RuntimeError("the export sent no bytes")
    return rows, rows / took, max(0, rss.peak - before)


def measure(name: str, work: Path, store_dir: Path, samples: int, survey: dict[str, Any]) -> Phase:
    """Every timed read against a fresh `activitylog api` over the store."""
    today = datetime.now(UTC).date()
    year = {"from": (today - timedelta(days=364)).isoformat(), "to": today.isoformat()}
    phase = Phase(name, parts_before=survey["parts"])
    phase.bytes_per_row = survey["bytes_on_disk"] / max(1, survey["stored_rows"])
    phase.disk_by_table = survey.get("bytes_on_disk_by_table", {})
    phase.stored_rows = max(1, survey["stored_rows"])
    keys = f"{BIG_KEY}={survey['partner']},{ALL_KEY}=*"
    print(f"  measuring ({name}): {samples} samples per read after {WARMUP} warm-up ones")
    with api_server(work, store_dir, keys) as (url, pid):
        phase.latencies = _measure_reads(url, survey, samples, year)
        try:
            _measure_export(url, pid, year)  # warm-up
            runs = [_measure_export(url, pid, year) for _ in range(EXPORT_SAMPLES)]
        except ExportFailed as exc:
            phase.export_error = str(exc)
        else:
            phase.export_rows = runs[0][0]
            phase.export_rows_per_s = statistics.median(rate for _, rate, _ in runs)
            growths = [growth for _, _, growth in runs]
            phase.export_growth = int(statistics.median(growths))
            phase.export_growth_max = max(growths)
        sampler = RssSampler(pid)
        phase.idle_rss, phase.idle_rss_file = sampler.rss(), sampler.rss("RssFile")
    return phase


def _prepare(keep: Path | None, work: Path, rows: int, seed: int) -> dict[str, Any]:
    """The store's generation record: read from `--keep DIR`, or generated now."""
    meta_file = work / META
    if keep is not None and meta_file.exists():
        meta: dict[str, Any] = json.loads(meta_file.read_text())
        print(f"reusing the store in {work} ({meta['rows']:,} rows, generated {meta['end']})")
        return meta
    if (work / "clickhouse").exists():
        raise SystemExit(f"{work / 'clickhouse'} holds an unfinished store: delete it first")
    print(f"generating {rows:,} rows inside ClickHouse (seed {seed}) in {work}")
    meta = _store_step("generate", str(work / "clickhouse"), str(rows), str(seed))
    meta_file.write_text(json.dumps(meta))
    return meta


def run(rows: int, samples: int, seed: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        store_dir = work / "clickhouse"
        meta = _prepare(keep, work, rows, seed)
        phases: list[Phase] = []
        first = _store_step("survey", str(store_dir), str(samples + WARMUP), str(meta["seed"]))
        first["event_ids"], first["customers"] = (
            _unique(first["event_ids"]),
            _unique(first["customers"]),
        )
        first["names"] = _unique(first["names"])
        if not meta["merged"]:
            phases.append(measure("fresh parts", work, store_dir, samples, first))
            merged = _store_step("merge", str(store_dir))
            phases[0].parts_after = merged["parts_before"]
            meta |= {"merged": True, "merge_s": merged["merge_s"]}
            (work / META).write_text(json.dumps(meta))
            after = _store_step("survey", str(store_dir), str(samples + WARMUP), str(meta["seed"]))
        else:
            after = first
        after |= {key: first[key] for key in ("event_ids", "customers", "names")}
        merged_phase = measure("merged", work, store_dir, samples, after)
        merged_phase.parts_after = merged_phase.parts_before
        phases.append(merged_phase)
        report(meta, first, phases, samples, keep)


def _latency_cell(values: list[float], goal_ms: float) -> str:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    verdict = "PASS" if p99 < goal_ms else "MISS"
    return f"p50 {p50:6.0f} / p99 {p99:6.0f} ms {verdict}"


def _cell(text: str, ok: bool | None) -> str:
    return f"{text} {'' if ok is None else ('PASS' if ok else 'MISS')}".rstrip()


def report(
    meta: dict[str, Any],
    survey: dict[str, Any],
    phases: list[Phase],
    samples: int,
    keep: Path | None,
) -> None:
    rows = int(meta["rows"])
    command = f"make bench-scale ROWS={rows}"
    if keep is not None or samples != 50 or meta["seed"] != 7:
        command = (
            f".venv/bin/python -m tests.bench.bench_scale --rows {rows} --samples {samples} "
            f"--seed {meta['seed']}" + (f" --keep {keep}" if keep else "")
        )
    print()
    duplicates = f"+{meta['duplicates']:,} exact duplicates"
    print(f"bench-scale, {rows:,} rows ({duplicates}), seed {meta['seed']}")
    print(f"  reproduce: {command}")
    print(
        f"  generated inside ClickHouse in {meta['generate_s']:.0f} s "
        f"({rows / meta['generate_s']:,.0f} rows/s); merged (OPTIMIZE ... FINAL) in "
        f"{meta.get('merge_s', 0):.0f} s"
    )
    print(
        f"  big partner {survey['partner']}: {survey['partner_rows']:,} rows; "
        f"{len(survey['event_ids'])} event ids, {len(survey['customers'])} customers, "
        f"{len(survey['names'])} name substrings sampled"
    )
    if len(phases) == 1:
        print("  fresh parts not measured: the kept store is already merged (generate a new one)")
    print("  timings are indicative: the machine's 2 cores may be shared")
    width = 56
    heads = [f"{p.name} ({p.parts_before}->{p.parts_after} parts)" for p in phases]
    print(f"  {'read (over HTTP)':{width}}" + "".join(f"{h:34}" for h in heads) + "goal")
    for key, (label, goal_ms) in READS.items():
        cells = "".join(f"{_latency_cell(p.latencies[key], goal_ms):34}" for p in phases)
        print(f"  {label:{width}}{cells}p99 < {goal_ms:.0f} ms")
    export_cells = "".join(
        f"{_cell(f'{p.export_rows_per_s:,.0f} rows/s', p.export_rows_per_s >= 1e6):34}"
        if not p.export_error
        else f"{_cell('failed: ' + p.export_error[:3], False):34}"
        for p in phases
    )
    print(f"  {'one year CSV export, big partner':{width}}{export_cells}>= 1,000,000 rows/s")
    for p in phases:
        if p.export_error:
            print(f"    the export failed ({p.name}): {p.export_error}")
    growth_cells = "".join(
        _cell(
            f"+{p.export_growth / 1e6:,.0f} MB (max +{p.export_growth_max / 1e6:,.0f})",
            p.export_growth < FLAT_EXPORT_GROWTH,
        ).ljust(34)
        for p in phases
    )
    print(
        f"  {'  server RSS growth, median of 5 (' + f'{phases[-1].export_rows:,} rows)':{width}}"
        f"{growth_cells}< {FLAT_EXPORT_GROWTH / 1e6:.0f} MB (flat)"
    )
    rss_cells = "".join(
        f"{_cell(f'{p.idle_rss / 1e6:,.0f} MB', p.idle_rss < GB):34}" for p in phases
    )
    print(f"  {'`activitylog api` RSS, idle after the reads':{width}}{rss_cells}< 1,000 MB")
    code_cells = "".join(f"{f'{p.idle_rss_file / 1e6:,.0f} MB':34}" for p in phases)
    print(f"  {'  of which mapped files (RssFile: the engine code)':{width}}{code_cells}")
    disk_cells = "".join(f"{f'{p.bytes_per_row:,.0f} B':34}" for p in phases)
    print(f"  {'disk per row (system.parts bytes_on_disk / rows)':{width}}{disk_cells}")
    for table in phases[-1].disk_by_table:
        cells = "".join(
            f"{f'{p.disk_by_table.get(table, 0) / p.stored_rows:,.1f} B':34}" for p in phases
        )
        print(f"  {'  ' + table + ' (per activity row)':{width}}{cells}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_scale")
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows to generate")
    parser.add_argument("--samples", type=int, default=50, help="timed requests per read")
    parser.add_argument("--seed", type=int, default=7, help="the generator's seed")
    parser.add_argument(
        "--keep", type=Path, help="generate into DIR and keep it; reuse the store already there"
    )
    args = parser.parse_args(argv)
    if args.rows < 10_000 or args.samples < 1:
        parser.error("--rows must be at least 10000 and --samples at least 1")
    run(args.rows, args.samples, args.seed, args.keep)


if __name__ == "__main__":
    main()
