"""`activitylog destinations add|list|remove` on a real chDB store, as a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = "import sys; from activitylog.cli import main; sys.exit(main(sys.argv[1:]))"


def run(tmp: Path, *args: str, loopback: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {
        "ACTIVITYLOG_STATE_DIR": str(tmp / "state"),
        "ACTIVITYLOG_CLICKHOUSE_URL": f"chdb://{tmp / 'ch'}",
        "ACTIVITYLOG_DESTINATIONS_ALLOW_LOOPBACK": "true" if loopback else "false",
    }
    return subprocess.run(
        [sys.executable, "-c", CLI, "destinations", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_add_list_remove_and_a_refused_url(tmp_path: Path) -> None:
    added = run(tmp_path, "add", "http://127.0.0.1:9/in", "--partner", "ptn-a", "--kinds", "order")
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    assert created["secret"].startswith("whsec_") and created["kinds"] == ["order"]
    assert "not shown again" in added.stderr
    listed = run(tmp_path, "list", "--partner", "ptn-a")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [created["id"]]
    assert "secret" not in listed.stdout.replace("secret_fingerprint", "")
    assert run(tmp_path, "list", "--partner", "ptn-b").stdout == ""
    removed = run(tmp_path, "remove", created["id"], "--partner", "ptn-a")
    assert removed.returncode == 0 and created["id"] in removed.stdout
    assert run(tmp_path, "list", "--partner", "ptn-a").stdout == ""
    refused = run(tmp_path, "add", "http://127.0.0.1:9/in", "--partner", "ptn-a", loopback=False)
    assert refused.returncode != 0
    assert refused.stderr.startswith("error: url:") and "LOOPBACK" in refused.stderr
    assert "Traceback" not in refused.stderr
