"""`activitylog destinations verify-signature`: what a receiver runs on a request it got."""

from __future__ import annotations

import time
from pathlib import Path

from activitylog.cli import main
from schemas.destinations import sign


def test_a_valid_a_tampered_and_a_stale_request(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"destination_id":"dst_x","activities":[]}')
    now = str(int(time.time()))
    good = sign("whsec_k", now, body.read_bytes())
    args = ["destinations", "verify-signature", str(body), "--secret", "whsec_k"]
    assert main([*args, "--timestamp", now, "--signature", good]) == 0
    body.write_bytes(b'{"destination_id":"dst_x","activities":[1]}')
    assert main([*args, "--timestamp", now, "--signature", good]) == 1
    old = str(int(time.time()) - 3600)
    assert (
        main([*args, "--timestamp", old, "--signature", sign("whsec_k", old, body.read_bytes())])
        == 1
    )
    assert main([*args, "--timestamp", "yesterday", "--signature", good]) == 2
