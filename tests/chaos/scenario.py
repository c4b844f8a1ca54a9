"""The chaos scenario: stream simulated events while the worker, broker and store fail.

One run, on real components only:

* its own Kafka broker (`KafkaStack` on a free port, so restarting it cannot
  disturb anybody else's), its own `activitylog serve` child process (worker
  and API in one process, embedded chDB in a directory of its own);
* the project's simulator publishing `events` events at `rate` per second
  through `ActivityPublisher`, each delivery report kept;
* faults in a seeded random order, each a random pause after the worker has
  resumed from the previous one: `kill -9` of the serve process (then a
  restart, as a supervisor would), one broker restart (SIGTERM, start again on
  the same port and data), and the store made unavailable for `store_outage_s`
  seconds (the chDB directory is a tmpfs that is filled up: inserts fail with
  ClickHouse's own out-of-space error; needs root to mount, skipped otherwise
  with the reason in the result);
* then: every acknowledged event must be readable exactly once.

What is measured at the end (`ChaosResult`):

* through the API, as a reader sees it (the list endpoint, every page of the
  window, deduplicated by the reads: FINAL or its equivalent), every event id
  counted: `duplicates_visible` = rows - distinct ids, `rows_lost` =
  acknowledged ids the API does not return (not the export: each export is
  audited as an activity of its own, which would add to what is counted);
* in the store itself, once the process has stopped: `count() FINAL` equal
  to `uniqExact(event_id)`, and the stream's ids stored equal to the
  acknowledged ones; `raw_rows` (count without FINAL) is reported, not judged: it
  counts re-inserted batches that merges have not collapsed yet, which FINAL
  hides from every reader;
* the consumer group's committed offsets equal the topics' end offsets.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activitylog.devstack.kafka import KafkaStack
from common.net import free_port
from common.settings import Settings
from tests.chaos.plan import PlannedFault, plan_faults
from tests.chaos.probes import group_lag, log_count, stored_batches, visible_ids
from tests.chaos.stream import READ_RANGE, PacedPublisher, chaos_spec
from tests.fixtures.serve import (
    ServeProcess,
    SmallTmpfs,
    TmpfsUnavailable,
    committed_and_end_offsets,
    fill_until_full,
    store_counts,
    wait_until,
)

_BATCH_ROWS = re.compile(r"event=batch_stored events=\d+ rows=(\d+)")


@dataclass(frozen=True)
class ChaosConfig:
    """How big a run: events, pace, how many of each fault, how long the store is down."""

    seed: int
    events: int = 200_000
    rate: float = 800.0
    kills: int = 10
    broker_restarts: int = 1
    store_outage_s: float = 30.0
    pause_range: tuple[float, float] = (2.0, 6.0)
    catch_up_timeout: float = 900.0

    @classmethod
    def full(cls, seed: int) -> ChaosConfig:
        """`make chaos`: 200,000 events, 10 kills, one broker restart, 30 s without store."""
        return cls(seed=seed)

    @classmethod
    def subset(cls, seed: int) -> ChaosConfig:
        """The `make test` subset: 20,000 events at 250/s, 3 kills, a broker restart, 5 s outage."""
        return cls(
            seed=seed,
            events=20_000,
            # 80 s of stream: the five faults and their pauses must all strike while it runs.
            rate=250.0,
            kills=3,
            broker_restarts=1,
            store_outage_s=5.0,
            pause_range=(1.0, 3.0),
            catch_up_timeout=240.0,
        )

    @property
    def tmpfs_mb(self) -> int:
        """Room for the rows, their re-inserted batches and merges (measured: ~350 B a row)."""
        return 96 + self.events * 3 // 1000


@dataclass
class FaultRecord:
    """One injected fault: when (seconds since the stream started) and what it took to heal."""

    kind: str
    at_s: float
    during_stream: bool
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class ChaosResult:
    """Everything the figure table and the assertions need."""

    config: ChaosConfig
    plan: list[PlannedFault]
    faults: list[FaultRecord] = field(default_factory=list)
    store_outage_skipped: str | None = None
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    stream_s: float = 0.0
    catch_up_s: float = 0.0
    visible_rows: int = 0
    visible_unique: int = 0
    duplicates_visible: int = 0
    rows_lost: int = 0
    unexpected_rows: int = 0
    store_final: int = 0
    store_unique: int = 0
    store_raw: int = 0
    store_rows_lost: int = 0
    store_stream_unique: int = 0
    rows_inserted: int = 0
    offsets_committed: bool = False
    serve_exit_code: int | None = None
    total_s: float = 0.0

    def count(self, kind: str) -> int:
        """How many faults of `kind` were injected."""
        return sum(1 for f in self.faults if f.kind == kind)

    def problems(self) -> list[str]:
        """What went wrong, one line each; empty when the run holds every guarantee."""
        problems = []
        if self.failed or self.delivered != self.sent:
            problems.append(f"publisher: {self.failed} failed of {self.sent} sent")
        if self.rows_lost or self.store_rows_lost:
            problems.append(f"rows lost: API {self.rows_lost}, store {self.store_rows_lost}")
        if self.duplicates_visible:
            problems.append(f"duplicates visible through the API: {self.duplicates_visible}")
        if not self.visible_unique == self.store_stream_unique == self.delivered:
            problems.append(
                f"stored unique {self.store_stream_unique} / visible {self.visible_unique} "
                f"!= published {self.delivered}"
            )
        if self.store_final != self.store_unique:
            problems.append(
                f"count() FINAL {self.store_final} != uniqExact(event_id) {self.store_unique}"
            )
        if self.unexpected_rows:
            problems.append(f"{self.unexpected_rows} rows not from the stream")
        if not self.offsets_committed:
            problems.append("committed offsets differ from the end offsets")
        if self.serve_exit_code != 0:
            problems.append(f"serve exited {self.serve_exit_code} on SIGTERM")
        return problems


def _serve_env(config: ChaosConfig) -> dict[str, str]:
    return {
        "ACTIVITYLOG_CONSUMER_GROUP": f"chaos-{config.seed}",
        # The production defaults for batching; a killed process stays a group
        # member until its session times out, so a short one makes restarts quick.
        "ACTIVITYLOG_BATCH_MAX_EVENTS": "10000",
        "ACTIVITYLOG_BATCH_MAX_SECONDS": "1.0",
        "ACTIVITYLOG_KAFKA_SESSION_TIMEOUT": "6",
    }


class _Run:
    """The state of one run: the broker, the current serve process, the publisher, the clock."""

    def __init__(self, config: ChaosConfig, workdir: Path, say: Callable[[str], None]) -> None:
        self.config = config
        self.workdir = workdir
        self.say = say
        self.t0 = time.monotonic()
        self.settings = Settings.from_env().with_overrides(
            kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=workdir / "kafka-state"
        )
        self.kafka = KafkaStack(self.settings)
        self.bootstrap = self.settings.kafka_bootstrap
        self.env = _serve_env(config)
        self.serve: ServeProcess | None = None
        self.publisher: PacedPublisher | None = None
        self.store_dir = workdir / "serve" / "clickhouse"

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def log(self, text: str) -> None:
        self.say(f"[{self.elapsed():7.1f}s] {text}")

    def start_serve(self) -> ServeProcess:
        self.serve = ServeProcess(self.bootstrap, self.workdir / "serve", **self.env).start()
        return self.serve

    def streaming(self) -> bool:
        return self.publisher is not None and not self.publisher.done.is_set()

    def caught_up(self) -> bool:
        """The stream is over and every acknowledged event is visible."""
        assert self.publisher is not None and self.serve is not None
        if not self.publisher.done.is_set():
            return False
        # Offsets are committed only after the rows are stored: no lag, all stored.
        return group_lag(self.bootstrap, self.env["ACTIVITYLOG_CONSUMER_GROUP"]) == 0

    def wait_resumed(self, after: int, what: str, timeout: float = 180.0) -> float:
        """Seconds until the serve process stores a batch beyond `after` (or all is stored)."""
        assert self.serve is not None
        started = time.monotonic()
        serve = self.serve
        wait_until(
            lambda: (stored_batches(serve) or 0) > after or self.caught_up(),
            timeout,
            f"{what}; serve log:\n{serve.log()}",
            every=0.1,
        )
        return time.monotonic() - started

    # ------------------------------------------------------------------ faults

    def kill_worker(self) -> dict[str, float]:
        assert self.serve is not None and self.serve.proc is not None
        pid = self.serve.proc.pid
        killed_at = time.monotonic()
        assert self.serve.stop(signal.SIGKILL) == -signal.SIGKILL, self.serve.log()
        self.start_serve()
        healthy_s = time.monotonic() - killed_at
        resumed_s = healthy_s + self.wait_resumed(0, f"a batch stored after kill -9 of {pid}")
        self.log(f"  killed pid {pid}: API back in {healthy_s:.1f}s, storing in {resumed_s:.1f}s")
        return {"api_back_s": healthy_s, "resumed_s": resumed_s}

    def restart_broker(self) -> dict[str, float]:
        assert self.serve is not None
        started = time.monotonic()
        assert self.kafka.down(), "the broker was not running"
        stopped_s = time.monotonic() - started
        self.kafka.up(timeout=180)
        down_s = time.monotonic() - started
        proc = self.serve.proc
        assert proc is not None and proc.poll() is None, f"serve died:\n{self.serve.log()}"
        resumed_s = self.wait_resumed(
            stored_batches(self.serve) or 0, "a batch stored after the broker restart"
        )
        self.log(
            f"  broker stopped in {stopped_s:.1f}s, answering again {down_s:.1f}s after the "
            f"stop; worker storing {resumed_s:.1f}s later"
        )
        return {"stop_s": stopped_s, "broker_down_s": down_s, "resumed_s": resumed_s}

    def store_outage(self) -> dict[str, float]:
        assert self.serve is not None
        serve = self.serve
        failed_before = log_count(serve, "event=insert_failed")
        recovered_before = log_count(serve, "event=insert_recovered")
        started = time.monotonic()
        filler = fill_until_full(self.store_dir)
        full_at = time.monotonic()
        stored_before = log_count(serve, "event=batch_stored")
        # The outage is the fault itself: hold it for its full length, topping
        # the filler up (ClickHouse frees a little space when it drops a failed
        # part), watching that inserts really fail and the process stays up.
        first_failure_s = -1.0
        while time.monotonic() < full_at + self.config.store_outage_s:
            fill_until_full(self.store_dir)
            if first_failure_s < 0 and log_count(serve, "event=insert_failed") > failed_before:
                first_failure_s = time.monotonic() - full_at
            proc = serve.proc
            assert proc is not None and proc.poll() is None, f"serve died:\n{serve.log()}"
            time.sleep(0.1)
        failed = log_count(serve, "event=insert_failed") - failed_before
        slipped = log_count(serve, "event=batch_stored") - stored_before
        filler.unlink()
        freed_at = time.monotonic()
        if failed:
            wait_until(
                lambda: log_count(serve, "event=insert_recovered") > recovered_before,
                120,
                f"an insert recovering after the store came back; log:\n{serve.log()}",
            )
        recovered_s = time.monotonic() - freed_at
        self.log(
            f"  store full for {freed_at - full_at:.1f}s (filled in {full_at - started:.1f}s): "
            f"{failed} insert attempts failed, first after {first_failure_s:.1f}s, "
            f"{slipped} batches stored meanwhile; "
            f"inserting again {recovered_s:.1f}s after space was freed"
        )
        return {
            "held_s": freed_at - full_at,
            "failed_inserts": float(failed),
            "stored_while_full": float(slipped),
            "recovered_s": recovered_s,
        }


def run_chaos(
    config: ChaosConfig, workdir: Path, say: Callable[[str], None] = print
) -> ChaosResult:
    """Run the whole scenario in `workdir` (a fresh directory) and measure the outcome."""
    plan = plan_faults(
        config.seed,
        kills=config.kills,
        broker_restarts=config.broker_restarts,
        store_outages=1 if config.store_outage_s > 0 else 0,
        pause_range=config.pause_range,
    )
    result = ChaosResult(config=config, plan=plan)
    run = _Run(config, workdir, say)
    run.log(
        f"seed={config.seed} events={config.events} rate={config.rate:g}/s plan: "
        + ", ".join(f"{f.kind}+{f.pause_s:g}s" for f in plan)
    )
    with contextlib.ExitStack() as cleanup:
        run.kafka.up(timeout=180)
        cleanup.callback(run.kafka.down)
        run.log(f"broker up on {run.bootstrap}")
        if config.store_outage_s > 0:
            try:
                cleanup.enter_context(SmallTmpfs(run.store_dir, config.tmpfs_mb))
            except TmpfsUnavailable as exc:
                result.store_outage_skipped = str(exc)
                run.log(f"store outage skipped: {exc}")
        cleanup.callback(_kill_if_running, run)
        run.start_serve()
        run.publisher = PacedPublisher(
            run.bootstrap, chaos_spec(config.seed, config.events), config.rate
        )
        cleanup.callback(run.publisher.stop_requested.set)
        run.publisher.start()
        stream_started = time.monotonic()
        run.log(f"serve up ({run.serve.url if run.serve else '?'}); streaming")
        run.wait_resumed(0, "the first batch stored")

        for number, planned in enumerate(plan, start=1):
            if planned.kind == "store_outage" and result.store_outage_skipped:
                continue
            _pause(planned.pause_s, run.publisher)
            at_s = time.monotonic() - stream_started
            during = run.streaming()
            run.log(
                f"fault {number}/{len(plan)}: {planned.kind} "
                f"({run.publisher.sent} events sent, stream {'running' if during else 'over'})"
            )
            injector = {
                "kill_worker": run.kill_worker,
                "restart_broker": run.restart_broker,
                "store_outage": run.store_outage,
            }[planned.kind]
            result.faults.append(FaultRecord(planned.kind, at_s, during, injector()))

        run.publisher.join(config.events / config.rate + 600)
        if run.publisher.error is not None:
            raise AssertionError(f"the publisher stopped: {run.publisher.error!r}")
        report = run.publisher.report
        assert report is not None
        result.sent, result.delivered, result.failed = report.sent, report.delivered, report.failed
        result.stream_s = run.publisher.finished_at - stream_started
        run.log(f"stream over: {report.summary()}")

        wait_until(run.caught_up, config.catch_up_timeout, "every delivered event visible", 0.5)
        caught_up_at = time.monotonic()
        result.catch_up_s = caught_up_at - run.publisher.finished_at
        run.log(f"caught up {result.catch_up_s:.1f}s after the last acknowledgement")
        _measure(run, result)
    result.total_s = run.elapsed()
    return result


def _measure(run: _Run, result: ChaosResult) -> None:
    """The end state, through the API (FINAL), in the store and in the consumer group."""
    assert run.serve is not None and run.publisher is not None
    delivered = run.publisher.delivered_ids
    seen = visible_ids(run.serve, READ_RANGE)
    result.visible_rows = sum(seen.values())
    result.visible_unique = len(seen)
    result.duplicates_visible = result.visible_rows - result.visible_unique
    result.rows_lost = len(delivered - seen.keys())
    result.unexpected_rows = len(seen.keys() - run.publisher.sent_ids)
    result.serve_exit_code = run.serve.stop(signal.SIGTERM)
    # Every insert of every incarnation, from the log: more than the events
    # when batches were replayed after a kill, which the reads must hide.
    log_text = run.serve.log_path.read_text(errors="replace")
    result.rows_inserted = sum(int(n) for n in _BATCH_ROWS.findall(log_text))
    committed, ends = committed_and_end_offsets(
        run.bootstrap, run.env["ACTIVITYLOG_CONSUMER_GROUP"]
    )
    result.offsets_committed = bool(ends) and all(
        committed.get(tp) == end for tp, end in ends.items()
    )
    counts: dict[str, Any] = store_counts(run.store_dir)
    result.store_final, result.store_unique, result.store_raw = (
        int(counts["final"]),
        int(counts["unique"]),
        int(counts["raw"]),
    )
    stored_ids = set(counts["ids"])
    result.store_rows_lost = len(delivered - stored_ids)
    result.store_stream_unique = len(stored_ids & run.publisher.sent_ids)
    run.log(
        f"API: {result.visible_rows} rows, {result.visible_unique} distinct, "
        f"{result.rows_lost} lost; store: FINAL {result.store_final}, distinct "
        f"{result.store_unique}, raw {result.store_raw}; offsets committed: "
        f"{result.offsets_committed}"
    )


def _pause(seconds: float, publisher: PacedPublisher) -> None:
    """The plan's random pause before a fault (the fault's moment, not a synchronisation)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if publisher.error is not None:
            raise AssertionError(f"the publisher stopped: {publisher.error!r}")
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def _kill_if_running(run: _Run) -> None:
    """On the way out after a failure: no serve process may outlive the run."""
    serve = run.serve
    if serve is not None and serve.proc is not None and serve.proc.poll() is None:
        with contextlib.suppress(Exception):
            serve.stop(signal.SIGKILL, timeout=10)
