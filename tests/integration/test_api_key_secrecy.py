"""API keys never appear in the server's logs, response bodies or headers.

A real `activitylog api` child process (debug logging, the session's broker,
its own chDB) is called with a valid key and with near-miss keys (the valid
key with a character added or removed, another deployment's key), through
both headers, on successes and on every kind of failure (401, 400, 404,
414, a refused export range, a job for another partner). Then the whole log
and every byte the server sent back are searched for each key.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from tests.fixtures.serve import ServeProcess
from tests.fuzz import Tally

TALLY = Tally("api_key_secrecy")


def test_api_keys_never_appear_in_logs_or_responses(kafka_bootstrap: str, tmp_path: Path) -> None:
    key = "sk-" + secrets.token_hex(16)
    admin = "adm-" + secrets.token_hex(16)
    near_misses = [key + "x", key[:-1], "sk-" + secrets.token_hex(16)]
    server = ServeProcess(
        kafka_bootstrap,
        tmp_path,
        command="api",
        ACTIVITYLOG_API_KEYS=f"{key}=ptn-secret,ops:{admin}=*",
        ACTIVITYLOG_LOG_LEVEL="debug",
        ACTIVITYLOG_EXPORT_MAX_DAYS="31",
    ).start()
    seen: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            calls = [
                ("GET", "/api/v1/activity", {}),
                ("GET", "/api/v1/activity", {"from": "not-a-date"}),
                ("GET", "/api/v1/activity", {"cursor": "garbage"}),
                ("GET", "/api/v1/activity", {"limit": "5000"}),
                ("GET", "/api/v1/activity", {"q": "x" * 9000}),
                ("GET", "/api/v1/activity/export", {"format": "csv"}),
                ("GET", "/api/v1/activity/export", {"from": "2020-01-01", "to": "2026-01-01"}),
                ("GET", "/api/v1/activity/00000000-0000-0000-0000-000000000000", {}),
                ("GET", "/api/v1/customers/nobody/subscriptions", {}),
                ("POST", "/api/v1/exports", {"format": "jsonl"}),
                ("GET", "/api/v1/exports/nope/manifest", {}),
                ("GET", "/healthz", {}),
                ("GET", "/metrics", {}),
            ]
            statuses: set[int] = set()
            for presented in (key, admin, *near_misses, None):
                for style in ("bearer", "x-api-key"):
                    headers = {}
                    if presented is not None:
                        headers = (
                            {"Authorization": f"Bearer {presented}"}
                            if style == "bearer"
                            else {"X-API-Key": presented}
                        )
                    for method, path, params in calls:
                        response = http.request(method, path, params=params, headers=headers)
                        TALLY.add("requests")
                        statuses.add(response.status_code)
                        seen.append(response.text)
                        seen.append(str(response.headers))
                        assert response.status_code < 500, (path, response.text)
        assert {200, 202, 400, 401, 404, 414} <= statuses, statuses
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "running" in log  # the log is the server's, with its start-up line
    everything = "\n".join(seen)
    assert (tmp_path / "state" / "api-key-secret").is_file()  # keys are held under it
    state = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".log"]
    for secret in (key, admin, *near_misses):
        assert secret not in log, "an API key was written to the server log"
        assert secret not in everything, "an API key was sent back to a client"
        assert not any(secret.encode() in data for data in state), "a key was written to disk"
    TALLY.write(statuses=sorted(statuses), log_bytes=len(log))
