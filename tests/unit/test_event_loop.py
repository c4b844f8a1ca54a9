"""`serve`, `worker` and `api` run on uvloop when it is installed, without a global side effect.

uvloop is one of the settings that made the worker faster in the calibration
of docs/components.md, faust-streaming, so the commands must actually get it; and since tests run
commands in-process, the loop policy must be put back afterwards.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from activitylog import runtime
from activitylog.cli import main
from common.settings import Settings

uvloop = pytest.importorskip("uvloop")


def test_policy_is_uvloop_when_installed() -> None:
    assert isinstance(runtime.event_loop_policy(), uvloop.EventLoopPolicy)


def test_run_event_loop_runs_on_uvloop_and_restores_the_policy() -> None:
    before = asyncio.get_event_loop_policy()

    async def loop_seen() -> tuple[type[asyncio.AbstractEventLoop], str]:
        return type(asyncio.get_running_loop()), runtime.running_loop_name()

    loop_class, name = runtime.run_event_loop(loop_seen())
    assert issubclass(loop_class, uvloop.Loop)
    assert name == "uvloop"
    assert asyncio.get_event_loop_policy() is before


@pytest.mark.parametrize("command", ["worker", "serve", "api", "deliver"])
def test_long_running_commands_run_on_uvloop(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand in for the runtime only (no broker, no store in unit tests): what
    # is checked is the loop the command's coroutine runs on, and the flags.
    seen: list[tuple[str, bool, bool, bool]] = []

    async def record(settings: Settings, *, worker: bool, api: bool, delivery: bool) -> None:
        seen.append((runtime.running_loop_name(), worker, api, delivery))

    monkeypatch.setattr(runtime, "run", record)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACTIVITYLOG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ACTIVITYLOG_CLICKHOUSE_URL", f"chdb://{tmp_path / 'ch'}")

    assert main([command]) == 0
    expected = {
        "worker": (True, False, False),
        "serve": (True, True, True),
        "api": (False, True, False),
        "deliver": (False, False, True),
    }[command]
    assert seen == [("uvloop", *expected)]
