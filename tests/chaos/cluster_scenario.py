"""The cluster chaos scenario: stream events while the brokers of a 3-node cluster fail.

One run, on real components only (beside `tests/chaos/scenario.py`, which
faults the worker and the store on one broker):

* a 3-node KRaft cluster (`KafkaCluster`: every node broker and controller,
  topics at replication 3 and `min.insync.replicas=2`) on free ports in the
  run's directory;
* two `activitylog serve` processes in one consumer group, each with its
  embedded chDB store (two processes cannot share one chDB directory, so the
  group's work is split over two stores; a reader of both sees their union);
* the project's simulator publishing through `ActivityPublisher` (`acks=all`,
  idempotent, the defaults), every delivery kept.

Phase 1, ride-through. Three faults, each once events are flowing again
(acknowledged and stored since the previous one), each synchronised on the
cluster's own state, never on a sleep: kill -9 of a node that leads a
partition and is not the controller, wait until its partitions have new
leaders and it left every ISR, start it again, wait until it is back in every
ISR, move leadership back (preferred election); then another node; then the
active controller (the quorum leader, from the nodes' `quorum-state`), where
the same waits also cover the new controller's election. Every record must be
acknowledged: the publisher and both workers ride through.

Phase 2, quorum lost. A second stream, with a short delivery timeout; once it
is acknowledged, two of the three nodes are killed. With one node left there
is neither a controller quorum nor an ISR of two: `acks=all` writes fail
(`NotEnoughReplicas` or a timeout). The stream stops once failures are
counted; one node comes back, then the other; the workers, which never exit,
must store every acknowledged record.

Figures (`ClusterChaosResult`): published = stored by event id, visible
duplicates per reader, committed = end offsets, and per fault the time the
acknowledgements and the stores stood still.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activitylog.devstack.cluster import KafkaCluster
from common.kafka import admin_client
from common.net import free_port
from common.settings import Settings
from schemas.topics import SOURCE_TOPICS
from tests.chaos.probes import group_lag, stored_batches, visible_ids
from tests.chaos.stream import READ_RANGE, PacedPublisher, chaos_spec
from tests.fixtures.serve import (
    ServeProcess,
    committed_and_end_offsets,
    store_counts,
    wait_until,
)

BROKERS = 3
_ASSIGNED = re.compile(r"event=partitions_assigned partitions=(\S+)")
_BATCH_ROWS = re.compile(r"event=batch_stored events=\d+ rows=(\d+)")
Partition = tuple[str, int]


@dataclass(frozen=True)
class ClusterChaosConfig:
    """How big a run: the pace, the traffic between faults, the quorum-loss stream's timeout."""

    seed: int
    rate: float = 400.0
    # Acknowledged and stored events required before each fault: the fault
    # strikes a stream that is really flowing.
    events_between_faults: int = 4_000
    # The quorum-loss stream: records fail after this, not after two minutes.
    outage_delivery_timeout_ms: int = 15_000
    outage_failures: int = 1
    max_events: int = 2_000_000
    fault_timeout: float = 240.0
    catch_up_timeout: float = 600.0

    @classmethod
    def full(cls, seed: int) -> ClusterChaosConfig:
        """`make chaos`: 400 events/s, 4,000 between faults."""
        return cls(seed=seed)

    @classmethod
    def subset(cls, seed: int) -> ClusterChaosConfig:
        """The `make test` subset: 150 events/s, 300 between faults."""
        return cls(seed=seed, rate=150.0, events_between_faults=300, catch_up_timeout=240.0)


@dataclass
class BrokerFault:
    """One node killed with kill -9 and started again, and what it took to heal."""

    kind: str
    node: int
    led: int
    during_stream: bool
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class OutageFigures:
    """The quorum-loss phase: the second stream's outcome, record by record."""

    nodes_killed: tuple[int, ...] = ()
    sent: int = 0
    acked: int = 0
    failed: int = 0
    unanswered: int = 0
    failed_bytes: int = 0
    failed_records_kept: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    failed_but_stored: int = 0
    first_failure_s: float = 0.0
    workers_alive: bool = False
    resumed_s: float = 0.0


@dataclass
class ClusterChaosResult:
    """Everything the figure table and the assertions need."""

    config: ClusterChaosConfig
    faults: list[BrokerFault] = field(default_factory=list)
    outage: OutageFigures = field(default_factory=OutageFigures)
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    stream_s: float = 0.0
    acked_total: int = 0
    visible_unique: int = 0
    duplicates_visible: int = 0
    in_both_stores: int = 0
    rows_lost: int = 0
    store_rows_lost: int = 0
    store_final_equals_unique: bool = False
    unexpected_rows: int = 0
    rows_inserted: int = 0
    offsets_committed: bool = False
    exit_codes: tuple[int, ...] = ()
    total_s: float = 0.0

    def problems(self) -> list[str]:
        """What went wrong, one line each; empty when the run holds every guarantee."""
        problems = []
        if self.failed or self.delivered != self.sent:
            problems.append(f"ride-through publisher: {self.failed} failed of {self.sent} sent")
        if len(self.faults) != 3 or not all(f.during_stream for f in self.faults):
            problems.append(f"{len(self.faults)} broker faults, not 3 all while streaming")
        if self.rows_lost or self.store_rows_lost:
            problems.append(
                f"acknowledged rows lost: API {self.rows_lost}, store {self.store_rows_lost}"
            )
        if self.duplicates_visible:
            problems.append(f"duplicates visible through an API: {self.duplicates_visible}")
        if not self.store_final_equals_unique:
            problems.append("a store's count() FINAL differs from uniqExact(event_id)")
        if self.unexpected_rows:
            problems.append(f"{self.unexpected_rows} rows not from the streams")
        if not self.offsets_committed:
            problems.append("committed offsets differ from the end offsets")
        out = self.outage
        if out.failed + out.unanswered < self.config.outage_failures:
            problems.append("the quorum loss made no write fail: the fault did not strike")
        if out.acked + out.failed + out.unanswered != out.sent:
            problems.append(
                f"quorum-loss stream: {out.acked} acked + {out.failed} failed + "
                f"{out.unanswered} unanswered != {out.sent} sent"
            )
        if out.failed_records_kept != out.failed + out.unanswered:
            problems.append("a failed record was reported without its bytes")
        if not out.workers_alive:
            problems.append("a worker exited while the quorum was lost")
        if any(code != 0 for code in self.exit_codes):
            problems.append(f"serve exit codes on SIGTERM: {self.exit_codes}")
        return problems


# --------------------------------------------------------------------------- probes


def partition_states(bootstrap: str) -> dict[Partition, tuple[int, frozenset[int], int]]:
    """Each source partition's (leader, ISR, preferred leader), as the cluster's metadata says."""
    with admin_client(bootstrap, 5) as admin:
        topics = admin.describe_topics(list(SOURCE_TOPICS))
    return {
        (str(t["name"]), int(p["partition_index"])): (
            int(p["leader_id"]),
            frozenset(int(n) for n in p["isr_nodes"]),
            int(p["replica_nodes"][0]) if p["replica_nodes"] else -1,
        )
        for t in topics
        for p in t["partitions"]
    }


def _states_or_none(bootstrap: str) -> dict[Partition, tuple[int, frozenset[int], int]] | None:
    try:
        return partition_states(bootstrap)
    except Exception:  # a node is down or the cluster is electing: unknown, try again
        return None


def longest_gap(increases: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without an increase (the times given, sorted)."""
    points = [start, *(t for t in increases if start < t < end), end]
    return max(b - a for a, b in itertools.pairwise(points))


class ProgressSampler(threading.Thread):
    """Polls the acknowledgements and the stored batches; keeps the moments each grew."""

    def __init__(self, publisher: Callable[[], PacedPublisher | None], workers: list[ServeProcess]):
        super().__init__(name="progress-sampler", daemon=True)
        self._publisher = publisher
        self._workers = workers
        self.stop = threading.Event()
        self.acked_at: list[float] = []
        self.stored_at: list[float] = []
        self.acked = 0
        self.stored = 0

    def run(self) -> None:
        last_acked, last_stored = -1, -1
        while not self.stop.wait(0.1):
            publisher = self._publisher()
            report = publisher.progress() if publisher is not None else None
            acked = report.delivered if report is not None else 0
            stored = sum(stored_batches(w) or 0 for w in self._workers)
            now = time.monotonic()
            if publisher is not None and acked > last_acked >= 0:
                self.acked_at.append(now)
            if stored > last_stored >= 0:
                self.stored_at.append(now)
            last_acked, last_stored = acked, stored
            self.acked, self.stored = acked, stored

    def gaps(self, start: float, end: float) -> dict[str, float]:
        return {
            "ack_gap_s": longest_gap(list(self.acked_at), start, end),
            "store_gap_s": longest_gap(list(self.stored_at), start, end),
        }


def _assignment(worker: ServeProcess) -> set[str]:
    found = _ASSIGNED.findall(worker.log_path.read_text(errors="replace"))
    return set() if not found or found[-1] == "-" else set(found[-1].split(","))


# --------------------------------------------------------------------------- the run


class _ClusterRun:
    def __init__(self, config: ClusterChaosConfig, workdir: Path, say: Callable[[str], None]):
        self.config = config
        self.workdir = workdir
        self.say = say
        self.t0 = time.monotonic()
        ports: set[int] = set()
        while len(ports) < BROKERS:
            ports.add(free_port())
        self.settings = Settings.from_env().with_overrides(
            kafka_bootstrap=",".join(f"127.0.0.1:{p}" for p in sorted(ports)),
            state_dir=workdir / "kafka-state",
        )
        self.cluster = KafkaCluster.prepare(self.settings, BROKERS)
        self.bootstrap = self.cluster.bootstrap
        self.group = f"chaos-cluster-{config.seed}"
        self.env = {
            "ACTIVITYLOG_CONSUMER_GROUP": self.group,
            "ACTIVITYLOG_BATCH_MAX_EVENTS": "10000",
            "ACTIVITYLOG_BATCH_MAX_SECONDS": "1.0",
            "ACTIVITYLOG_KAFKA_SESSION_TIMEOUT": "6",
        }
        self.workers: list[ServeProcess] = []
        self.publisher: PacedPublisher | None = None
        self.sampler = ProgressSampler(lambda: self.publisher, self.workers)

    def log(self, text: str) -> None:
        self.say(f"[{time.monotonic() - self.t0:7.1f}s] {text}")

    def wait_states(
        self, what: str, ok: Callable[[dict[Partition, tuple[int, frozenset[int], int]]], bool]
    ) -> float:
        """Seconds until the source partitions' metadata satisfies `ok`."""
        started = time.monotonic()
        wait_until(
            lambda: (s := _states_or_none(self.bootstrap)) is not None and ok(s),
            self.config.fault_timeout,
            what,
            every=0.1,
        )
        return time.monotonic() - started

    def acked(self) -> int:
        """Records the current stream has had acknowledged so far."""
        report = self.publisher.progress() if self.publisher is not None else None
        return report.delivered if report is not None else 0

    def wait_flowing(self, what: str) -> None:
        """Until `events_between_faults` more events are acknowledged and a batch more stored."""
        acked, stored = self.acked(), self.sampler.stored
        wait_until(
            lambda: (
                self.acked() >= acked + self.config.events_between_faults
                and self.sampler.stored > stored
            ),
            self.config.fault_timeout,
            f"events flowing again ({what})",
            every=0.1,
        )

    def workers_alive(self) -> bool:
        return all(w.proc is not None and w.proc.poll() is None for w in self.workers)

    def preferred_leaders(self) -> float:
        """Move leadership back to each partition's preferred node; seconds until it holds."""
        with admin_client(self.bootstrap, 30) as admin:
            admin.elect_leaders(0, list(SOURCE_TOPICS), timeout_ms=30_000, raise_errors=False)
        return self.wait_states(
            "every partition led by its preferred node",
            lambda s: all(leader == preferred for leader, _, preferred in s.values()),
        )

    def break_node(self, kind: str, node: int) -> BrokerFault:
        """kill -9 a node; wait for elections and the ISR shrink; restart it; wait for the ISR."""
        before = partition_states(self.bootstrap)
        led = [tp for tp, (leader, _, _) in before.items() if leader == node]
        during = self.publisher is not None and not self.publisher.done.is_set()
        controller_before = self.cluster.active_controller()
        killed_at = time.monotonic()
        pid = self.cluster.kill_node(node, signal.SIGKILL)
        figures: dict[str, float] = {}
        figures["leaders_moved_s"] = self.wait_states(
            f"new leaders for {led} after kill -9 of node {node}",
            lambda s: all(s[tp][0] not in (node, -1) for tp in led),
        )
        self.wait_states(
            f"node {node} out of every ISR",
            lambda s: all(node not in isr for _, isr, _ in s.values()),
        )
        figures["isr_shrunk_s"] = time.monotonic() - killed_at
        if kind == "controller":
            wait_until(
                lambda: self.cluster.active_controller() not in (None, node),
                self.config.fault_timeout,
                f"a new active controller after kill -9 of node {node}",
                every=0.1,
            )
            figures["controller_elected_s"] = time.monotonic() - killed_at
        down_s = time.monotonic() - killed_at
        restart_at = time.monotonic()
        self.cluster.start_node(node, timeout=self.config.fault_timeout)
        figures["restart_s"] = time.monotonic() - restart_at
        figures["isr_full_s"] = figures["restart_s"] + self.wait_states(
            f"node {node} back in every ISR",
            lambda s: all(len(isr) == BROKERS for _, isr, _ in s.values()),
        )
        figures["preferred_s"] = self.preferred_leaders()
        healed_at = time.monotonic()
        self.wait_flowing(f"after node {node} came back")
        figures |= self.sampler.gaps(killed_at, healed_at)
        figures["down_s"] = down_s
        self.log(
            f"  {kind}: node {node} (pid {pid}, led {len(led)} partitions, controller was "
            f"{controller_before}) - leaders moved {figures['leaders_moved_s']:.1f}s, "
            f"restarted {figures['restart_s']:.1f}s, ISR full {figures['isr_full_s']:.1f}s "
            f"after restart; longest stall: acks {figures['ack_gap_s']:.1f}s, "
            f"stores {figures['store_gap_s']:.1f}s"
        )
        return BrokerFault(kind, node, len(led), during, figures)

    def pick_leader(self, exclude: set[int], avoid: set[int] | None = None) -> int:
        """The node leading most source partitions outside `exclude`, outside `avoid` if one can be.

        With fewer partitions than nodes some node leads none after a preferred
        election; killing it would not be a leader fault, so a leader that is
        also in `avoid` (the controller) is taken before a node that leads nothing.
        """
        states = partition_states(self.bootstrap)
        for barred in (exclude | (avoid or set()), exclude):
            leaders = Counter(leader for leader, _, _ in states.values() if leader not in barred)
            leaders.pop(-1, None)
            if leaders:
                return leaders.most_common(1)[0][0]
        raise AssertionError(f"no node outside {sorted(exclude)} leads a partition: {states}")


def run_cluster_chaos(
    config: ClusterChaosConfig, workdir: Path, say: Callable[[str], None] = print
) -> ClusterChaosResult:
    """Run both phases in `workdir` (a fresh directory) and measure the outcome."""
    result = ClusterChaosResult(config=config)
    run = _ClusterRun(config, workdir, say)
    run.log(
        f"seed={config.seed} rate={config.rate:g}/s, {config.events_between_faults} between faults"
    )
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(run.cluster.down)
        run.cluster.up(timeout=300)
        run.log(
            f"cluster up on {run.bootstrap} (replication {run.cluster.replication}, "
            f"min.insync.replicas {run.cluster.min_insync})"
        )
        cleanup.callback(_kill_workers, run)
        for name in ("w1", "w2"):
            run.workers.append(ServeProcess(run.bootstrap, workdir / name, **run.env).start())
        wait_until(
            lambda: all(_assignment(w) for w in run.workers),
            120,
            "both workers assigned partitions",
        )
        run.sampler.start()
        cleanup.callback(run.sampler.stop.set)

        # Phase 1: ride through three broker faults.
        run.publisher = PacedPublisher(
            run.bootstrap, chaos_spec(config.seed, config.max_events), config.rate
        )
        cleanup.callback(run.publisher.stop_requested.set)
        run.publisher.start()
        stream_started = time.monotonic()
        run.wait_flowing("the first events")
        controller = run.cluster.active_controller()
        first = run.pick_leader(set(), {controller} if controller else set())
        result.faults.append(run.break_node("leader", first))
        controller = run.cluster.active_controller()
        second = run.pick_leader({first}, {controller} if controller else set())
        result.faults.append(run.break_node("leader", second))
        controller = run.cluster.active_controller()
        assert controller is not None, "no active controller recorded by any node"
        result.faults.append(run.break_node("controller", controller))
        run.publisher.stop_requested.set()
        run.publisher.join(600)
        if run.publisher.error is not None:
            raise AssertionError(f"the publisher stopped: {run.publisher.error!r}")
        first_stream = run.publisher
        report = first_stream.report
        assert report is not None
        result.sent, result.delivered, result.failed = report.sent, report.delivered, report.failed
        result.stream_s = first_stream.finished_at - stream_started
        run.log(f"ride-through stream over: {report.summary()}")

        # Phase 2: two of three nodes down.
        result.outage = _quorum_loss(run)

        wait_until(
            lambda: group_lag(run.bootstrap, run.group) == 0,
            config.catch_up_timeout,
            "every acknowledged event stored and committed",
            0.5,
        )
        second_stream = run.publisher
        _measure(run, result, [first_stream, second_stream])
    result.total_s = time.monotonic() - run.t0
    return result


def _quorum_loss(run: _ClusterRun) -> OutageFigures:
    config = run.config
    out = OutageFigures()
    run.publisher = PacedPublisher(
        run.bootstrap,
        chaos_spec(config.seed + 1, config.max_events),
        config.rate,
        close_timeout=config.outage_delivery_timeout_ms / 1000 + 60,
        publisher_options={
            "delivery_timeout_ms": config.outage_delivery_timeout_ms,
            "request_timeout_ms": config.outage_delivery_timeout_ms // 2,
        },
    )
    publisher = run.publisher
    publisher.start()
    run.wait_flowing("the quorum-loss stream")
    controller = run.cluster.active_controller()
    # Any second node breaks the quorum; one that leads makes the outage bite at once.
    first_victim = controller or 1
    try:
        second_victim = run.pick_leader({first_victim})
    except AssertionError:
        second_victim = min(set(range(1, BROKERS + 1)) - {first_victim})
    victims = tuple(sorted({first_victim, second_victim}))
    out.nodes_killed = victims
    killed_at = time.monotonic()
    for node in victims:
        run.cluster.kill_node(node, signal.SIGKILL)
    run.log(f"quorum loss: killed nodes {victims}; waiting for the publisher's failures")

    def failing() -> bool:
        report = publisher.progress()
        return report is not None and report.failed >= config.outage_failures

    wait_until(failing, config.fault_timeout, "a write failing without a quorum", every=0.1)
    out.first_failure_s = time.monotonic() - killed_at
    publisher.stop_requested.set()
    out.workers_alive = run.workers_alive()
    # Bring the nodes back while the publisher closes: its last records fail or
    # land, either way each is accounted for.
    returned_at = time.monotonic()
    stored_before = run.sampler.stored
    run.cluster.start_node(victims[0], timeout=config.fault_timeout)
    run.log(f"  node {victims[0]} back after {time.monotonic() - killed_at:.1f}s")
    wait_until(
        lambda: run.sampler.stored > stored_before or group_lag(run.bootstrap, run.group) == 0,
        config.fault_timeout,
        "a worker storing again after a node came back",
        every=0.1,
    )
    out.resumed_s = time.monotonic() - returned_at
    out.workers_alive = out.workers_alive and run.workers_alive()
    run.cluster.start_node(victims[1], timeout=config.fault_timeout)
    run.wait_states(
        "every ISR full after the quorum loss",
        lambda s: all(len(isr) == BROKERS for _, isr, _ in s.values()),
    )
    publisher.join(config.outage_delivery_timeout_ms / 1000 + 120)
    if publisher.error is not None:
        raise AssertionError(f"the quorum-loss publisher stopped: {publisher.error!r}")
    report = publisher.report
    assert report is not None
    out.sent = report.sent
    out.acked = sum(1 for r in publisher.receipts if r.delivery is not None)
    out.failed = sum(1 for r in publisher.receipts if r.delivery is None and r.error is not None)
    out.unanswered = out.sent - out.acked - out.failed
    out.failed_records_kept = len(report.failed_records)
    out.failed_bytes = sum(len(f.value) for f in report.failed_records)
    out.reasons = dict(Counter(_reason_kind(f.reason) for f in report.failed_records))
    run.log(
        f"  quorum-loss stream: {out.sent} sent, {out.acked} acked, {out.failed} failed, "
        f"{out.unanswered} unanswered ({out.failed_bytes:,} bytes kept); reasons {out.reasons}"
    )
    return out


def _reason_kind(reason: str) -> str:
    """The error class of a failure reason ('KafkaTimeoutError: ...' -> 'KafkaTimeoutError')."""
    return reason.split(":", 1)[0].strip() or reason


def _measure(run: _ClusterRun, result: ClusterChaosResult, streams: list[PacedPublisher]) -> None:
    """The end state through both APIs (FINAL), in both stores and in the consumer group."""
    acked = set().union(*(s.delivered_ids for s in streams))
    sent = set().union(*(s.sent_ids for s in streams))
    failed_ids = sent - acked
    result.acked_total = len(acked)
    seen = [visible_ids(w, READ_RANGE) for w in run.workers]
    result.duplicates_visible = sum(sum(c.values()) - len(c) for c in seen)
    union = set().union(*(c.keys() for c in seen))
    result.in_both_stores = len(set(seen[0]) & set(seen[1]))
    result.visible_unique = len(union)
    result.rows_lost = len(acked - union)
    result.unexpected_rows = len(union - sent)
    result.outage.failed_but_stored = len(failed_ids & union)
    result.exit_codes = tuple(w.stop(signal.SIGTERM) for w in run.workers)
    result.rows_inserted = sum(
        int(n)
        for w in run.workers
        for n in _BATCH_ROWS.findall(w.log_path.read_text(errors="replace"))
    )
    committed, ends = committed_and_end_offsets(run.bootstrap, run.group)
    result.offsets_committed = bool(ends) and all(committed.get(tp) == e for tp, e in ends.items())
    stored: set[str] = set()
    equal = True
    for worker in run.workers:
        counts: dict[str, Any] = store_counts(worker.workdir / "clickhouse")
        equal = equal and int(counts["final"]) == int(counts["unique"])
        stored |= set(counts["ids"])
    result.store_final_equals_unique = equal
    result.store_rows_lost = len(acked - stored)
    run.log(
        f"APIs: {result.visible_unique} distinct ({result.in_both_stores} in both stores), "
        f"{result.duplicates_visible} duplicates, {result.rows_lost} lost; offsets committed: "
        f"{result.offsets_committed}"
    )


def _kill_workers(run: _ClusterRun) -> None:
    """On the way out after a failure: no serve process may outlive the run."""
    for worker in run.workers:
        if worker.proc is not None and worker.proc.poll() is None:
            with contextlib.suppress(Exception):
                worker.stop(signal.SIGKILL, timeout=10)


# --------------------------------------------------------------------------- figures


def cluster_rows(result: ClusterChaosResult) -> list[tuple[str, str]]:
    """(what, figure) pairs, in the order a reader checks them."""
    config = result.config
    rows = [
        (
            "ride-through stream (acks=all, idempotent): acknowledged, by event id",
            f"{result.delivered:,} of {result.sent:,} sent, {result.failed} failed "
            f"({result.stream_s:.0f} s at {config.rate:g}/s; seed {config.seed})",
        )
    ]
    for fault in result.faults:
        f = fault.figures
        extra = (
            f", new controller elected {f['controller_elected_s']:.1f} s"
            if "controller_elected_s" in f
            else ""
        )
        rows.append(
            (
                f"kill -9 of node {fault.node} ({fault.kind}, led {fault.led} partitions"
                f"{', while streaming' if fault.during_stream else ', AFTER the stream'})",
                f"new leaders {f['leaders_moved_s']:.1f} s, out of ISR {f['isr_shrunk_s']:.1f} s"
                f"{extra}; restarted {f['restart_s']:.1f} s, ISR full "
                f"{f['isr_full_s']:.1f} s after; longest time without an acknowledgement "
                f"{f['ack_gap_s']:.1f} s, without a stored batch {f['store_gap_s']:.1f} s",
            )
        )
    out = result.outage
    rows += [
        (
            f"quorum loss (nodes {', '.join(map(str, out.nodes_killed))} killed): "
            "second stream's records",
            f"{out.sent:,} sent = {out.acked:,} acknowledged + {out.failed:,} failed + "
            f"{out.unanswered:,} unanswered; {out.failed_records_kept:,} failed records kept "
            f"with their bytes ({out.failed_bytes:,} B); reasons {out.reasons or '-'}",
        ),
        (
            "quorum loss: first failure / workers alive / storing again after a node returned",
            f"{out.first_failure_s:.1f} s / {out.workers_alive} / {out.resumed_s:.1f} s",
        ),
        (
            "failed records that were stored anyway (written before the timeout fired)",
            f"{out.failed_but_stored}",
        ),
        (
            "acknowledged (both streams) == stored unique, through the two APIs",
            f"{result.acked_total:,} acknowledged; {result.visible_unique:,} visible; "
            f"lost: API {result.rows_lost}, store {result.store_rows_lost}",
        ),
        (
            "duplicates visible through an API / events in both workers' stores",
            f"{result.duplicates_visible} / {result.in_both_stores}",
        ),
        ("rows inserted, both workers", f"{result.rows_inserted:,}"),
        ("each store: count() FINAL == uniqExact(event_id)", f"{result.store_final_equals_unique}"),
        ("rows not from the streams", f"{result.unexpected_rows}"),
        (
            "committed offsets == end offsets; serve exits on SIGTERM",
            f"{result.offsets_committed}; {result.exit_codes}",
        ),
        ("wall time", f"{result.total_s:.0f} s"),
    ]
    return rows
