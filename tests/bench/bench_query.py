"""The read side at 1,000,000 rows: first-page latency and CSV export over HTTP.

    .venv/bin/python -m tests.bench.bench_query [ROWS]

1. Builds a chDB store of ROWS rows (default 1,000,000) in a temp dir, in a
   child process: simulator events (one month, 3 partners) normalized by the
   real pipeline step and inserted in big columnar batches, then copied with
   new event ids by `INSERT ... SELECT` until ROWS. The same child measures
   the references: the store's own `SELECT ... FORMAT CSVWithNames` of the
   rows the export holds (same FINAL, same order) and without FINAL/order,
   plus what FINAL costs the first-page query in-process.
2. Serves the API from that store with a real `activitylog api` process on
   a free port (uvicorn, embedded chDB), and measures over HTTP: the first
   page (100 rows) of one partner's month, p50/p99 over N requests; the CSV
   export of every row (all-partners key) in rows/s against the reference,
   and the server's RSS growth while it streams the export.

Goals: p99 < 100 ms, export >= 0.7x the store's own CSV output,
RSS growth < 200 MB. Prints figures; never fails on a number.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from schemas.migrate import open_migrated
from tests.bench.api_process import RssSampler, api_server, timed_export

EXPORT_FROM, EXPORT_TO = "2026-09-01", "2026-11-30"
PAGE_REQUESTS = 300


def _timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- child process: build the store and measure the in-process references


def build_and_reference(path: Path, rows: int) -> dict[str, Any]:
    """Fill the store, then time the store's own CSV and FINAL's cost. Runs in a child."""

    from query.exports.cells import CELL_COLUMNS
    from query.filters import ActivityFilter
    from query.ranges import resolve_range
    from query.reads.columns import EXPORT_ORDER, LIST_COLUMNS
    from schemas.activity import ACTIVITY_TABLE

    started = time.perf_counter()
    from tests.fixtures.datasets import fill_store

    store = open_migrated(f"chdb://{path}")
    fill_store(store, rows, seed=5)
    total = int(store.query_rows(f"SELECT count() FROM {ACTIVITY_TABLE}")[0][0])  # noqa: S608
    build_s = time.perf_counter() - started
    partners = store.query_rows(
        f"SELECT partner_id, count() FROM {ACTIVITY_TABLE} GROUP BY 1 ORDER BY 2 DESC"  # noqa: S608
    )

    now = datetime.now(UTC)
    everything = ActivityFilter(range=resolve_range(EXPORT_FROM, EXPORT_TO, None, now))
    where, params = everything.where()
    client = store._client  # the bare client: this is the store's own output, no wrapper
    cols = ", ".join(("occurred_at", *CELL_COLUMNS))
    order = ", ".join(EXPORT_ORDER)

    def own_csv(sql: str) -> int:
        return len(client.raw_query(sql, parameters=params, fmt="CSVWithNames"))

    same_sql = f"SELECT {cols} FROM {ACTIVITY_TABLE} FINAL WHERE {where} ORDER BY {order}"  # noqa: S608
    plain_sql = f"SELECT {cols} FROM {ACTIVITY_TABLE} WHERE {where}"  # noqa: S608
    own_csv(same_sql)  # warm the caches, as the HTTP export will find them
    same = min(_timed(lambda: own_csv(same_sql), 2))
    plain = min(_timed(lambda: own_csv(plain_sql), 2))
    csv_bytes = own_csv(same_sql)

    partner = str(partners[0][0])
    month = ActivityFilter(
        range=resolve_range("2026-10-01", "2026-10-31", None, now), partner_id=partner
    )
    mwhere, mparams = month.where()
    page = (
        f"SELECT {', '.join(LIST_COLUMNS)} FROM {ACTIVITY_TABLE} FINAL_MARK "  # noqa: S608
        f"WHERE {mwhere} ORDER BY occurred_at DESC, event_id DESC LIMIT 101"
    )
    with_final = _timed(lambda: store.query_rows(page.replace("FINAL_MARK", "FINAL"), mparams), 30)
    without = _timed(lambda: store.query_rows(page.replace("FINAL_MARK", ""), mparams), 30)
    parts = int(
        store.query_rows(
            "SELECT count() FROM system.parts WHERE active AND table = {t:String}",
            {"t": ACTIVITY_TABLE},
        )[0][0]
    )
    store.close()
    return {
        "rows": total,
        "build_s": build_s,
        "partners": [[str(p), int(n)] for p, n in partners],
        "parts": parts,
        "own_csv_same_s": same,
        "own_csv_plain_s": plain,
        "own_csv_bytes": csv_bytes,
        "page_final_p50": statistics.median(with_final),
        "page_nofinal_p50": statistics.median(without),
    }


# -- parent: serve and measure over HTTP


def main(rows: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        work = Path(tmp)
        store_dir = work / "clickhouse"
        child = subprocess.run(
            [sys.executable, "-m", "tests.bench.bench_query", "--build", str(store_dir), str(rows)],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            raise RuntimeError(f"building the store failed:\n{child.stderr[-3000:]}")
        ref = json.loads(child.stdout.strip().splitlines()[-1])
        partner, partner_rows = ref["partners"][0]

        with api_server(work, store_dir, f"k-partner={partner},k-admin=*") as (url, pid):
            figures = _measure(url, pid, ref)
    _report(rows, ref, partner, partner_rows, figures)


def _measure(url: str, pid: int, ref: dict[str, Any]) -> dict[str, Any]:
    http = httpx.Client(base_url=url, headers={"Authorization": "Bearer k-partner"}, timeout=30)
    month = {"from": "2026-10-01", "to": "2026-10-31", "limit": "100"}

    def first_page() -> None:
        response = http.get("/api/v1/activity", params=month)
        assert response.status_code == 200 and len(response.json()["items"]) == 100

    _timed(first_page, 10)  # warm-up
    pages = _timed(first_page, PAGE_REQUESTS)
    cursor = http.get("/api/v1/activity", params=month).json()["next_cursor"]
    nexts = _timed(lambda: http.get("/api/v1/activity", params=month | {"cursor": cursor}), 100)
    searched = _timed(
        lambda: http.get("/api/v1/activity", params=month | {"customer": "gmbh"}), 100
    )
    http.close()

    everything = {"from": EXPORT_FROM, "to": EXPORT_TO}
    timed_export(url, "k-admin", "csv", {"from": "2026-10-01", "to": "2026-10-02"})  # warm-up

    def measured(fmt: str, lang: str = "en") -> tuple[tuple[int, int, float], int, int]:
        """Best of two exports; RSS growth of the first (cold) and the second (repeat)."""
        growth: list[int] = []
        runs: list[tuple[int, int, float]] = []
        for _ in range(2):
            with RssSampler(pid) as sampler:
                before = sampler.rss()
                runs.append(timed_export(url, "k-admin", fmt, everything | {"lang": lang}))
            growth.append(sampler.peak - before)
        return min(runs, key=lambda r: r[2]), growth[0], growth[1]

    csv_run, rss_growth, rss_repeat = measured("csv")
    csv_fr_run, _, _ = measured("csv", "fr")
    pq_run, pq_growth, pq_repeat = measured("parquet")
    jl_rows, jl_bytes, jl_s = timed_export(url, "k-admin", "jsonl", everything)
    return {
        "page_p50": _pct(pages, 0.5),
        "page_p99": _pct(pages, 0.99),
        "next_p50": _pct(nexts, 0.5),
        "next_p99": _pct(nexts, 0.99),
        "search_p50": _pct(searched, 0.5),
        "search_p99": _pct(searched, 0.99),
        "csv": csv_run,
        "csv_fr": csv_fr_run,
        "rss_growth": rss_growth,
        "rss_repeat": rss_repeat,
        "parquet": pq_run,
        "parquet_rss_growth": pq_growth,
        "parquet_rss_repeat": pq_repeat,
        "jsonl": (jl_rows, jl_bytes, jl_s),
    }


def _report(
    rows: int, ref: dict[str, Any], partner: str, partner_rows: int, f: dict[str, Any]
) -> None:
    ms = 1000.0
    csv_rows, csv_bytes, csv_s = f["csv"]
    ours = csv_rows / csv_s
    same = ref["rows"] / ref["own_csv_same_s"]
    plain = ref["rows"] / ref["own_csv_plain_s"]
    mb = 1024 * 1024
    print(f"query side, {ref['rows']:,} rows stored (python -m tests.bench.bench_query {rows})")
    print(
        f"  store built in {ref['build_s']:.0f}s ({ref['parts']} active parts); "
        f"partner {partner} has {partner_rows:,} rows, one month"
    )
    print(
        f"  first page, 100 rows, one partner's month, HTTP ({PAGE_REQUESTS} requests): "
        f"p50 {f['page_p50'] * ms:.1f} ms  p99 {f['page_p99'] * ms:.1f} ms  (goal p99 < 100 ms)"
    )
    print(
        f"  next page by cursor: p50 {f['next_p50'] * ms:.1f} ms  p99 {f['next_p99'] * ms:.1f} ms"
    )
    print(
        f"  first page with customer~'gmbh': p50 {f['search_p50'] * ms:.1f} ms  "
        f"p99 {f['search_p99'] * ms:.1f} ms"
    )
    print(
        f"  FINAL on that query, in-process p50: {ref['page_final_p50'] * ms:.1f} ms "
        f"vs {ref['page_nofinal_p50'] * ms:.1f} ms without"
    )
    print(
        f"  CSV export over HTTP, all rows (best of 2): {csv_rows:,} rows, "
        f"{csv_bytes / mb:.0f} MB in {csv_s:.2f}s = {ours:,.0f} rows/s"
    )
    print(
        f"    store's own CSVWithNames, same rows (FINAL, same order): {same:,.0f} rows/s "
        f"-> {ours / same:.2f}x (goal >= 0.7x)"
    )
    print(
        f"    store's own CSVWithNames, no FINAL, no order: {plain:,.0f} rows/s "
        f"-> {ours / plain:.2f}x"
    )
    fr_rows, fr_bytes, fr_s = f["csv_fr"]
    print(
        f"  CSV export in French (lang=fr), all rows (best of 2): {fr_rows:,} rows, "
        f"{fr_bytes / mb:.0f} MB in {fr_s:.2f}s = {fr_rows / fr_s:,.0f} rows/s "
        f"-> {fr_rows / fr_s / same:.2f}x the store's own CSV"
    )
    print(
        f"    server RSS growth during the export: {f['rss_growth'] / mb:.0f} MB first, "
        f"{f['rss_repeat'] / mb:.0f} MB repeated (goal < 200 MB)"
    )
    for fmt in ("parquet", "jsonl"):
        n, size, seconds = f[fmt]
        print(
            f"  {fmt} export over HTTP: {n:,} rows, {size / mb:.0f} MB in {seconds:.2f}s "
            f"= {n / seconds:,.0f} rows/s"
        )
    print(
        f"    server RSS growth during the Parquet export: {f['parquet_rss_growth'] / mb:.0f} MB "
        f"first, {f['parquet_rss_repeat'] / mb:.0f} MB repeated"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--build":
        print(json.dumps(build_and_reference(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
