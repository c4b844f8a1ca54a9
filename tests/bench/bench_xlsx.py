"""The xlsx export at 1,000,000 rows: its rate against xlsxwriter's, and the server's memory.

    .venv/bin/python -m tests.bench.bench_xlsx [ROWS]

1. Builds a chDB store of ROWS rows (default 1,000,000) in a temp dir, in a
   child process (`tests.fixtures.datasets.fill_store`), which also measures,
   in the same run and on the same rows (every row: the all-partners export):
   - ours in-process: `export_bytes(..., "xlsx")` drained, in rows/s;
   - the reference: xlsxwriter in `constant_memory` mode fed the same cells as
     tuples (the rows fetched slice by slice; only the writer's time counts:
     `write_datetime` for the date, `write_string` for the text, then `close`).
2. Serves the API from that store (`activitylog api`, embedded chDB) and
   downloads the xlsx export over HTTP, sampling the server's RSS.

Goals: xlsx rate >= xlsxwriter constant_memory's, server RSS growth < 200 MB
for a 1M-row export. Prints figures; never fails on a number. Run it on a
quiet machine: figures from a busy one say little.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from common.store import Store
from query.exports.formats import export_bytes
from query.exports.xlsx import xlsx_header
from query.filters import ActivityFilter
from query.ranges import resolve_range
from schemas.activity import ACTIVITY_TABLE
from schemas.migrate import open_migrated
from tests.bench.api_process import RssSampler, api_server, timed_export
from tests.fixtures.exports import iter_export_rows

EXPORT_FROM, EXPORT_TO = "2026-09-01", "2026-11-30"


def _everything() -> ActivityFilter:
    return ActivityFilter(range=resolve_range(EXPORT_FROM, EXPORT_TO, None, datetime.now(UTC)))


def _ours(store: Store) -> tuple[float, int]:
    """(seconds, bytes) of our xlsx export drained in-process."""
    started = time.perf_counter()
    size = sum(len(chunk) for chunk in export_bytes(store, _everything(), "xlsx"))
    return time.perf_counter() - started, size


def _xlsxwriter(store: Store, out: Path) -> tuple[float, int]:
    """(seconds spent in xlsxwriter, bytes) for the same cells fed as tuples."""
    book = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    sheet = book.add_worksheet("Activity")
    date_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
    spent = 0.0
    started = time.perf_counter()
    for col, name in enumerate(xlsx_header("en", "UTC")):
        sheet.write_string(0, col, name)
    spent += time.perf_counter() - started
    row_number = 0
    batch: list[tuple[Any, ...]] = []

    def flush() -> float:
        nonlocal row_number
        began = time.perf_counter()
        for row in batch:
            row_number += 1
            sheet.write_datetime(row_number, 0, row[0], date_format)
            for col, text in enumerate(row[1:6], start=1):
                if text:
                    sheet.write_string(row_number, col, text)
        batch.clear()
        return time.perf_counter() - began

    for row in iter_export_rows(store, _everything()):
        # The cells come rendered, the date as UTC ISO text: xlsxwriter takes a datetime.
        when = datetime.fromisoformat(row[0].replace("Z", "+00:00")).replace(tzinfo=None)
        batch.append((when, *row[1:]))
        if len(batch) == 50_000:
            spent += flush()
    spent += flush()
    began = time.perf_counter()
    book.close()
    spent += time.perf_counter() - began
    return spent, out.stat().st_size


def build_and_reference(path: Path, rows: int) -> dict[str, Any]:
    """Fill the store, then time ours and xlsxwriter's in-process. Runs in a child."""
    from tests.fixtures.datasets import fill_store

    store = open_migrated(f"chdb://{path}")
    fill_store(store, rows, seed=5)
    total = int(store.query_rows(f"SELECT count() FROM {ACTIVITY_TABLE}")[0][0])  # noqa: S608
    _ours(store)  # warm the caches, as the reference will find them
    ours_s, ours_bytes = _ours(store)
    ref_s, ref_bytes = _xlsxwriter(store, path.parent / "xlsxwriter.xlsx")
    store.close()
    return {
        "rows": total,
        "ours_s": ours_s,
        "ours_bytes": ours_bytes,
        "xlsxwriter_s": ref_s,
        "xlsxwriter_bytes": ref_bytes,
    }


def main(rows: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-xlsx-") as tmp:
        work = Path(tmp)
        store_dir = work / "clickhouse"
        child = subprocess.run(
            [sys.executable, "-m", "tests.bench.bench_xlsx", "--build", str(store_dir), str(rows)],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            raise RuntimeError(f"building the store failed:\n{child.stderr[-3000:]}")
        ref = json.loads(child.stdout.strip().splitlines()[-1])
        with api_server(work, store_dir, "k-admin=*") as (url, pid):
            # Warm-up: the engine's own first use is not the export's.
            timed_export(url, "k-admin", "xlsx", {"from": "2026-10-01", "to": "2026-10-02"})
            with RssSampler(pid) as sampler:
                before = sampler.rss()
                everything = {"from": EXPORT_FROM, "to": EXPORT_TO}
                http_rows, http_bytes, http_s = timed_export(url, "k-admin", "xlsx", everything)
            growth = sampler.peak - before
    _report(rows, ref, (http_rows, http_bytes, http_s), growth)


def _report(rows: int, ref: dict[str, Any], http: tuple[int, int, float], growth: int) -> None:
    mb = 1024 * 1024
    n = ref["rows"]
    ours = n / ref["ours_s"]
    theirs = n / ref["xlsxwriter_s"]
    print(f"xlsx export, {n:,} rows stored (python -m tests.bench.bench_xlsx {rows})")
    print(
        f"  ours in-process: {ref['ours_bytes'] / mb:.0f} MB in {ref['ours_s']:.2f}s "
        f"= {ours:,.0f} rows/s"
    )
    print(
        f"  xlsxwriter constant_memory fed tuples (writer time only): "
        f"{ref['xlsxwriter_bytes'] / mb:.0f} MB in {ref['xlsxwriter_s']:.2f}s "
        f"= {theirs:,.0f} rows/s -> ours {ours / theirs:.2f}x (goal >= 1x)"
    )
    http_rows, http_bytes, http_s = http
    print(
        f"  over HTTP: {http_rows:,} rows, {http_bytes / mb:.0f} MB in {http_s:.2f}s "
        f"= {http_rows / http_s:,.0f} rows/s"
    )
    print(f"    server RSS growth during the export: {growth / mb:.0f} MB (goal < 200 MB)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--build":
        print(json.dumps(build_and_reference(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
