"""The soak: steady simulated load at half the measured capacity, sampled every few seconds.

Real components only: its own Kafka broker (free port), `activitylog serve`
(worker + API + embedded chDB, one process, so one RSS covers all three), the
project's simulator publishing through `ActivityPublisher` at a fixed rate.

1. Capacity, measured first (unless a rate is given): `capacity_events` are
   published while the worker is stopped, then the worker starts and the time
   from its first stored batch to a consumer lag of 0 gives events/s.
2. Steady load at `capacity / 2` for `minutes`; every `sample_s` seconds:
   the consumer group's lag (end offsets - committed offsets: the worker
   commits only after the rows are stored), the serve process's RSS and CPU
   time; meanwhile one partner's first page (100 rows) is requested every
   `page_interval_s` seconds by a thread of its own and timed.
3. After the stream: the time until the lag is 0 again.

Pass criteria (`SoakResult.problems`): lag bounded by `lag_bound_s` seconds of
traffic at every sample; RSS slope over the last 5 minutes under
`rss_slope_limit` MB/min; no errors (publisher failures, API answers other
than 200, an ERROR line or a traceback in the serve log once the steady load
has started, the process dying). After the load, the first page is timed
again with the worker idle, on the same rows: the reference for the
figures under load.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from activitylog.devstack.kafka import KafkaStack
from common.net import free_port
from common.settings import Settings
from producers.simulate import SimulationSpec, simulate
from tests.chaos.probes import group_lag, rss_mb, stored_batches
from tests.fixtures.serve import ServeProcess, committed_and_end_offsets, wait_until
from tests.soak.series import Sample, last_window, percentile, slope_per_minute

WINDOW_START = datetime(2026, 2, 2, tzinfo=UTC)
WINDOW_END = datetime(2026, 3, 1, tzinfo=UTC)
PAGE_RANGE = {"from": "2026-02-02", "to": "2026-03-01"}
API_KEY = "soak-key"
_GROUP = "soak"
_FIRST_BATCH = re.compile(r"event=batch_stored events=(\d+)")


@dataclass(frozen=True)
class SoakConfig:
    """How long, how fast (None: half the measured capacity), and the pass thresholds."""

    seed: int = 11
    minutes: float = 10.0
    rate: float | None = None
    capacity_events: int = 200_000
    sample_s: float = 5.0
    lag_bound_s: float = 30.0
    page_interval_s: float = 1.0
    idle_requests: int = 30
    rss_slope_limit: float = 5.0
    flat_window_s: float = 300.0


@dataclass
class SoakResult:
    config: SoakConfig
    capacity: float | None = None
    rate: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    log_errors: list[str] = field(default_factory=list)
    drained_s: float = 0.0
    serve_exit_code: int | None = None
    idle_latencies: list[float] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [ms for s in self.samples for ms in s.latencies_ms]

    @property
    def lag_bound(self) -> int:
        return int(self.rate * self.config.lag_bound_s)

    @property
    def max_lag(self) -> int:
        return max((s.lag for s in self.samples if s.lag is not None), default=0)

    @property
    def rss_slope(self) -> float:
        window = last_window(self.samples, self.config.flat_window_s)
        return slope_per_minute([(s.t_s, s.rss_mb) for s in window if s.rss_mb is not None])

    @property
    def api_errors(self) -> int:
        return sum(s.errors for s in self.samples)

    @property
    def error_kinds(self) -> Counter[str]:
        """The serve log's ERROR lines by message (time stamps and details cut off)."""
        kinds: Counter[str] = Counter()
        for line in self.log_errors:
            text = re.sub(r"^[\w.]+: ", "", line.split(" ERROR ", 1)[-1])  # the logger
            text = re.sub(r"^\[[^\]]*\]: ", "", text)  # a Faust service tag
            kinds[re.split(r"[(\[]", text, maxsplit=1)[0].strip()[:90]] += 1
        return kinds

    def problems(self) -> list[str]:
        """Each pass criterion that failed, one line each."""
        out = []
        if self.max_lag > self.lag_bound:
            out.append(f"lag reached {self.max_lag}, above the bound {self.lag_bound}")
        if any(s.lag is None for s in self.samples):
            out.append("the lag could not be read at some samples")
        if self.rss_slope > self.config.rss_slope_limit:
            out.append(
                f"RSS grew {self.rss_slope:.2f} MB/min over the last "
                f"{self.config.flat_window_s / 60:g} min (limit {self.config.rss_slope_limit:g})"
            )
        if self.failed or self.delivered != self.sent:
            out.append(f"publisher: {self.failed} failed, {self.delivered} of {self.sent} acked")
        if self.api_errors:
            out.append(f"{self.api_errors} first-page requests failed")
        if self.log_errors:
            kinds = "; ".join(f"{n} x {kind!r}" for kind, n in self.error_kinds.most_common())
            out.append(f"serve log: {len(self.log_errors)} ERROR lines: {kinds}")
        if self.serve_exit_code != 0:
            out.append(f"serve exited {self.serve_exit_code} on SIGTERM")
        return out


def _simulate_args(seed: int, events: int, rate: float) -> list[str]:
    """`activitylog simulate` to Kafka: the project's simulator in a process of its own."""
    return [
        sys.executable,
        "-m",
        "activitylog.cli",
        "simulate",
        f"--seed={seed}",
        "--partners=5",
        "--customers=60",
        f"--events={events}",
        f"--start={WINDOW_START.date().isoformat()}",
        f"--end={WINDOW_END.date().isoformat()}",
        f"--rate={rate:g}",
    ]


def _timed_partner(seed: int) -> str:
    """The partner of the simulation's first event (the same spec as the CLI's)."""
    spec = SimulationSpec(
        seed=seed,
        partners=5,
        customers_per_partner=60,
        start=WINDOW_START,
        end=WINDOW_END + timedelta(days=1) - timedelta(microseconds=1),
        events=1,
    )
    return str(next(iter(simulate(spec)))[1]["partner_id"])


class Simulator:
    """`activitylog simulate ... --rate R` running as a child process."""

    def __init__(self, bootstrap: str, seed: int, events: int, rate: float, log: Path) -> None:
        self.events = events
        self.log_path = log
        self.proc = subprocess.Popen(
            _simulate_args(seed, events, rate),
            env=dict(os.environ) | {"ACTIVITYLOG_KAFKA_BOOTSTRAP": bootstrap},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def done(self) -> bool:
        return self.proc.poll() is not None

    def wait(self, timeout: float) -> tuple[int, int]:
        """(events Kafka acknowledged, exit code): the CLI's own delivery report."""
        code = self.proc.wait(timeout)
        text = self.log_path.read_text(errors="replace")
        match = re.search(r"^(\d+) events \(.*\) sent to Kafka", text, re.MULTILINE)
        return (int(match.group(1)) if match else 0), code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` (Linux `/proc/pid/stat`)."""
    import os

    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _first_page(serve: ServeProcess) -> float | None:
    """Milliseconds for one partner's first page (100 rows), None on an error.

    The page is empty for the first seconds (the stream has just begun): an
    answer of 200 counts, as a partner's empty month is a valid page too.
    """
    started = time.perf_counter()
    try:
        response = httpx.get(
            f"{serve.url}/api/v1/activity",
            params={**PAGE_RANGE, "limit": "100"},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        )
    except httpx.HTTPError:
        return None
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed if response.status_code == 200 else None


def _log_errors(serve: ServeProcess, since: int) -> list[str]:
    """ERROR lines and tracebacks written to the serve log after byte `since`."""
    with serve.log_path.open("rb") as f:
        f.seek(since)
        lines = f.read().decode(errors="replace").splitlines()
    return [line for line in lines if " ERROR " in line or line.startswith("Traceback")]


class PageProber(threading.Thread):
    """Time one partner's first page every `interval` seconds, in the background.

    Apart from the sampler so that a slow answer delays neither the lag nor
    the RSS samples: `timings` holds (seconds since `origin`, ms or None).
    """

    def __init__(self, serve: ServeProcess, interval: float, origin: float) -> None:
        super().__init__(name="page-prober", daemon=True)
        self.serve = serve
        self.interval = interval
        self.origin = origin
        self.stop = threading.Event()
        self.timings: list[tuple[float, float | None]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            at = time.monotonic()
            self.timings.append((at - self.origin, _first_page(self.serve)))
            self.stop.wait(max(0.0, at + self.interval - time.monotonic()))

    def between(self, start: float, end: float) -> list[float | None]:
        return [ms for t, ms in list(self.timings) if start <= t < end]


def run_soak(config: SoakConfig, workdir: Path, say: Callable[[str], None] = print) -> SoakResult:
    """Run the soak in `workdir` and return its series and verdict inputs."""
    result = SoakResult(config=config)
    t0 = time.monotonic()

    def log(text: str) -> None:
        say(f"[{time.monotonic() - t0:7.1f}s] {text}")

    settings = Settings.from_env().with_overrides(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=workdir / "kafka-state"
    )
    kafka = KafkaStack(settings)
    bootstrap = settings.kafka_bootstrap
    partner = _timed_partner(config.seed)
    env = {
        "ACTIVITYLOG_CONSUMER_GROUP": _GROUP,
        "ACTIVITYLOG_API_KEYS": f"{API_KEY}={partner}",
        "ACTIVITYLOG_BATCH_MAX_EVENTS": "10000",
        "ACTIVITYLOG_BATCH_MAX_SECONDS": "1.0",
    }
    with contextlib.ExitStack() as cleanup:
        kafka.up(timeout=180)
        cleanup.callback(kafka.down)
        log(f"broker up on {bootstrap}; partner of the timed page: {partner}")
        serve = ServeProcess(bootstrap, workdir / "serve", **env)
        cleanup.callback(_kill_if_running, serve)
        if config.rate is None:
            result.capacity = _measure_capacity(config, bootstrap, serve, workdir, log)
            result.rate = round(result.capacity / 2, -2) or 100.0
        else:
            serve.start()
            result.rate = config.rate
        # Errors are counted from here: a fresh broker's group coordinator takes a
        # moment to start, which aiokafka logs at ERROR while it retries.
        wait_until(lambda: serve.logged("event=partitions_assigned"), 120, "partitions assigned")
        assert serve.proc is not None
        pid = serve.proc.pid
        log_since = serve.log_path.stat().st_size
        events = int(result.rate * config.minutes * 60)
        log(f"steady load: {events} events at {result.rate:g}/s for {config.minutes:g} min")
        already = _lag_and_published(bootstrap)[1]  # the capacity backlog
        simulator = Simulator(bootstrap, config.seed, events, result.rate, workdir / "sim.log")
        cleanup.callback(simulator.stop)
        started = time.monotonic()
        prober = PageProber(serve, config.page_interval_s, started)
        cleanup.callback(prober.stop.set)
        prober.start()
        previous = 0.0
        while not simulator.done():
            # Pacing of the sampler only (it measures; it synchronises nothing).
            time.sleep(max(0.0, started + previous + config.sample_s - time.monotonic()))
            now = time.monotonic() - started
            timings = prober.between(previous, now)
            previous = now
            lag, ends = _lag_and_published(bootstrap)
            sample = Sample(
                t_s=now,
                sent=max(ends - already, 0),
                lag=lag,
                rss_mb=rss_mb(pid),
                cpu_s=_cpu_seconds(pid),
                latencies_ms=tuple(ms for ms in timings if ms is not None),
                errors=sum(1 for ms in timings if ms is None),
                load1=os.getloadavg()[0],
            )
            result.samples.append(sample)
            if len(result.samples) % 12 == 0:
                log(
                    f"  sent {sample.sent} lag {sample.lag} rss {sample.rss_mb or 0:.0f} MB "
                    f"page p50 {percentile(sample.latencies_ms, 50):.0f} ms"
                )
            if serve.proc.poll() is not None:
                raise AssertionError(f"serve died during the soak:\n{serve.log()}")
        prober.stop.set()
        prober.join(60)
        result.delivered, code = simulator.wait(60)
        result.sent = events
        result.failed = events - result.delivered if code else 0
        if code:
            log(f"the simulator exited {code}:\n{simulator.log_path.read_text()[-2000:]}")
        drain_from = time.monotonic()
        wait_until(lambda: group_lag(bootstrap, _GROUP) == 0, 300, "the lag back to 0", 0.5)
        result.drained_s = time.monotonic() - drain_from
        log(f"stream over ({result.delivered} acknowledged); lag 0 after {result.drained_s:.1f}s")
        result.log_errors = _log_errors(serve, log_since)
        # The reference, same run, same rows: the first page with the worker idle.
        idle = [_first_page(serve) for _ in range(config.idle_requests)]
        result.idle_latencies = [ms for ms in idle if ms is not None]
        result.serve_exit_code = serve.stop(signal.SIGTERM)
    return result


def _measure_capacity(
    config: SoakConfig,
    bootstrap: str,
    serve: ServeProcess,
    workdir: Path,
    log: Callable[[str], None],
) -> float:
    """Events/s one worker stores from a backlog: publish first, then time the drain."""
    backlog = Simulator(bootstrap, config.seed + 1, config.capacity_events, 0, workdir / "bl.log")
    delivered, code = backlog.wait(600)
    if code or delivered != config.capacity_events:
        raise AssertionError(f"backlog not published:\n{backlog.log_path.read_text()[-2000:]}")
    serve.start()
    wait_until(lambda: (stored_batches(serve) or 0) >= 1, 120, "the first batch stored")
    first = time.monotonic()
    wait_until(lambda: group_lag(bootstrap, _GROUP) == 0, 600, "the backlog drained", 0.2)
    seconds = time.monotonic() - first
    # Timed from the first stored batch, so that batch's events are not counted.
    match = _FIRST_BATCH.search(serve.log_path.read_text(errors="replace"))
    counted = config.capacity_events - (int(match.group(1)) if match else 0)
    capacity = counted / seconds
    log(f"capacity: {counted} events stored in {seconds:.1f}s = {capacity:,.0f}/s")
    return capacity


def _lag_and_published(bootstrap: str) -> tuple[int | None, int]:
    """(the group's lag or None, messages on the source topics so far)."""
    try:
        committed, ends = committed_and_end_offsets(bootstrap, _GROUP)
    except Exception:  # the broker did not answer this time: the sample says unknown
        return None, 0
    published = sum(ends.values())
    return sum(max(end - (committed.get(tp) or 0), 0) for tp, end in ends.items()), published


def _kill_if_running(serve: ServeProcess) -> None:
    if serve.proc is not None and serve.proc.poll() is None:
        with contextlib.suppress(Exception):
            serve.stop(signal.SIGKILL, timeout=10)
