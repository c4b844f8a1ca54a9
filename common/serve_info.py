"""Where a running `activitylog serve` tells other commands that it holds the embedded store.

chDB allows one process per data directory, so while `serve` runs, `query`, `export` and
`export --job` go through its HTTP API: it writes `serve.json` in the state directory at
start-up and removes it at exit; a file left by a dead process is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from common.net import pid_alive
from common.settings import Settings
from common.store import parse_clickhouse_url

SERVE_INFO = "serve.json"


@dataclass(frozen=True)
class ServeInfo:
    """What a running `serve` tells other commands: where its API is, which store it holds."""

    pid: int
    api_url: str
    store_path: str


def serve_info_path(settings: Settings) -> Path:
    return settings.state_dir / SERVE_INFO


def read_serve_info(settings: Settings) -> ServeInfo | None:
    """The running `serve` that holds this settings' embedded store, if any."""
    location = parse_clickhouse_url(settings.clickhouse_url)
    if location.mode != "embedded" or location.path is None:
        return None
    try:
        data = json.loads(serve_info_path(settings).read_text(encoding="utf-8"))
        info = ServeInfo(int(data["pid"]), str(data["api_url"]), str(data["store_path"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.store_path != str(location.path.resolve()) or not pid_alive(info.pid):
        return None
    return info


def write_serve_info(settings: Settings, *, api: bool) -> None:
    """Tell other commands that this process serves the embedded store (atomic write)."""
    location = parse_clickhouse_url(settings.clickhouse_url)
    if location.mode != "embedded" or location.path is None or not api:
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    path = serve_info_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "api_url": settings.api_base_url,
                "store_path": str(location.path.resolve()),
            }
        ),
        encoding="utf-8",
    )
    tmp.replace(path)
