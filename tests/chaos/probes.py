"""What the chaos and soak runs read from a running `serve`: cheap probes over HTTP.

Each probe answers None rather than raising while the process is down or
restarting: the caller decides how long that may last (a deadline).
"""

from __future__ import annotations

from collections import Counter

import httpx
import orjson

from tests.fixtures.serve import ServeProcess, committed_and_end_offsets


def stored_batches(serve: ServeProcess) -> int | None:
    """Batches this process has stored since it started (`/healthz`), None if it does not answer."""
    try:
        response = httpx.get(f"{serve.url}/healthz", timeout=5)
        return int(response.json().get("batches", 0))
    except (httpx.HTTPError, ValueError):
        return None


def visible_ids(
    serve: ServeProcess, params: dict[str, str], key: str | None = None
) -> Counter[str]:
    """Every event id a reader sees in the range, with how often: all pages of the list.

    The list endpoint, page after page (1000 rows, keyset cursor), as the web
    page reads it. Not the export: every export is audited as an
    `export.create` activity of its own, so counting through exports would
    add rows to what is being counted.
    """
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    ids: Counter[str] = Counter()
    cursor: str | None = None
    while True:
        query = {**params, "limit": "1000"} | ({"cursor": cursor} if cursor else {})
        response = httpx.get(
            f"{serve.url}/api/v1/activity", params=query, headers=headers, timeout=60
        )
        response.raise_for_status()
        page = orjson.loads(response.content)
        ids.update(str(item["event_id"]) for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def group_lag(bootstrap: str, group: str) -> int | None:
    """Messages of the v1 source topics not yet committed by `group` (None if unknown).

    The worker commits only after the rows are stored, so a lag of 0 means
    every message on the topics is stored: a probe with no side effect.
    """
    try:
        committed, ends = committed_and_end_offsets(bootstrap, group)
    except Exception:  # the broker may be restarting: unknown, not zero
        return None
    if not ends:
        return None
    return int(sum(max(end - (committed.get(tp) or 0), 0) for tp, end in ends.items()))


def log_count(serve: ServeProcess, text: str) -> int:
    """How many times `text` appears in the serve log (every run of this workdir appends)."""
    try:
        return serve.log_path.read_text(errors="replace").count(text)
    except OSError:
        return 0


def rss_mb(pid: int) -> float | None:
    """Resident set size of `pid` in MB (Linux `/proc`), None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
