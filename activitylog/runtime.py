"""Run the worker and/or the API in one asyncio loop, and stop them cleanly.

`activitylog serve` runs both in one process because chDB allows one
process per data directory (docs/contracts.md, Storage modes); `worker` and `api` run one each
against a ClickHouse server. SIGTERM/SIGINT: finish the batch in flight,
commit, stop serving, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import prometheus_client

from common.errors import BrokerUnavailable, ConfigError, WorkerFailed
from common.kafka import check_broker
from common.net import tcp_open
from common.serve_info import read_serve_info, serve_info_path, write_serve_info
from common.settings import Settings
from common.store import Store
from producers.publisher import ActivityPublisher
from query.client import HttpReader, Reader, StoreReader
from query.http.app import create_api
from query.jobs.runner import ExportJobRunner
from query.manifests.audit import ExportAudit
from query.manifests.ledger import ExportLedger
from schemas.migrate import migrated_store

log = logging.getLogger(__name__)

# A CLI export's `export.create` is retried this long when Kafka is down, then logged lost.
CLI_AUDIT_RETRY_SECONDS = 1.0

T = TypeVar("T")


def event_loop_policy() -> asyncio.AbstractEventLoopPolicy | None:
    """uvloop's policy when uvloop is installed, else None (the standard asyncio loop).

    The worker spends much of each event's cost in the loop's own machinery
    (futures, callbacks, socket reads); uvloop does that in C, one of the
    settings that helped in the calibration of docs/components.md, faust-streaming.
    """
    try:
        import uvloop
    except ImportError:
        return None
    policy: asyncio.AbstractEventLoopPolicy = uvloop.EventLoopPolicy()
    return policy


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop of `event_loop_policy()`.

    The policy is set for this call only and the previous one restored, so a
    command run in-process (tests call `cli.main`) leaves no global change behind.
    A policy rather than `asyncio.Runner(loop_factory=...)`: on Python 3.11 a
    loop factory's loop is not installed as the thread's event loop, while
    Faust/mode look loops up with `asyncio.get_event_loop()`; the policy keeps
    exactly what `asyncio.run` did, on a faster loop.
    """
    policy = event_loop_policy()
    if policy is None:
        return asyncio.run(main)
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(policy)
    try:
        return asyncio.run(main)
    finally:
        asyncio.set_event_loop_policy(previous)


def running_loop_name() -> str:
    """`uvloop` or `asyncio`: the package of the running loop's class, for the start-up log."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def export_audit(settings: Settings, *, source: str, retry_seconds: float = 60.0) -> ExportAudit:
    """The export audit of this process: every export becomes an `export.create` activity."""

    def publisher() -> ActivityPublisher:
        # kafka-python retries an unreachable bootstrap for up to 30 s inside its
        # constructor; a refused TCP connection is a fast, certain "down" instead.
        bootstrap = settings.kafka_bootstrap
        if not any(tcp_open(server) for server in bootstrap.split(",")):
            raise BrokerUnavailable(f"no Kafka broker accepts connections at {bootstrap}")
        # Not idempotent: kafka-python's idempotent producer can stall for good
        # after an outage (docs/components.md); the event id makes a duplicate harmless.
        return ActivityPublisher(
            bootstrap,
            idempotent=False,
            linger_ms=0,
            delivery_timeout_ms=10_000,
            request_timeout_ms=5_000,
            close_timeout=2.0,
            client_id="activitylog-export-audit",
        )

    return ExportAudit(publisher, source=source, retry_seconds=retry_seconds)


def open_reader(settings: Settings) -> Reader:
    """The HTTP API of a running `serve` that holds the store, else the store itself."""
    info = read_serve_info(settings)
    if info is not None:
        return HttpReader(info.api_url, settings.api_key)
    return store_reader(migrated_store(settings), settings)


def store_reader(store: Store, settings: Settings) -> StoreReader:
    """A reader of `store` whose exports are sealed and audited by this CLI process."""
    audit = export_audit(settings, source="activitylog-cli", retry_seconds=CLI_AUDIT_RETRY_SECONDS)
    return StoreReader(store, settings, audit=audit)


def bind_api_socket(settings: Settings) -> socket.socket:
    """Bind the API's socket before anything starts, so a taken port is a clear error."""
    family = socket.AF_INET6 if ":" in settings.api_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.api_host, settings.api_port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            "ACTIVITYLOG_API_PORT",
            f"cannot listen on {settings.api_host}:{settings.api_port}: {exc.strerror}",
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def check_api_auth(settings: Settings) -> None:
    """No keys configured is allowed only on a loopback bind (docs/contracts.md)."""
    if settings.api_keys is None and not settings.api_is_loopback:
        raise ConfigError(
            "ACTIVITYLOG_API_KEYS",
            f"must be set when the API listens on {settings.api_host} (not loopback): "
            "without keys anyone on the network could read every partner's activity",
        )


async def run(settings: Settings, *, worker: bool, api: bool, delivery: bool = False) -> None:
    """Run until SIGTERM/SIGINT (or a fatal error in the worker or the delivery agent)."""
    import uvicorn

    # Deferred: Faust (with aiokafka and mode) takes about a second to import, which
    # `query`, `export` and the other short commands that import this module never need.
    from processors.delivery.agent import DeliveryAgent
    from processors.worker import IngestWorker

    settings = settings.for_role(ingests=worker)
    if api:
        check_api_auth(settings)
    if worker or delivery:
        await asyncio.to_thread(check_broker, settings.kafka_bootstrap)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    stores: list[Store] = []
    ingest: IngestWorker | None = None
    agent: DeliveryAgent | None = None
    server: uvicorn.Server | None = None
    server_task: asyncio.Task[None] | None = None
    jobs: ExportJobRunner | None = None
    audit: ExportAudit | None = None
    info_written = False
    try:
        writer_store = migrated_store(settings)
        stores.append(writer_store)
        if worker:
            ingest = IngestWorker(settings, writer_store)
        if delivery:
            # A store of its own: the agent's reads never wait behind the worker's inserts.
            delivery_store = Store.from_settings(settings)
            stores.append(delivery_store)
            agent = DeliveryAgent(settings, delivery_store)
        if api:
            sock = bind_api_socket(settings)
            reader_store = Store.from_settings(settings)
            stores.append(reader_store)

            def health() -> dict[str, Any]:
                state: dict[str, Any] = {"worker": "disabled"}
                if ingest is not None:
                    failed = ingest.app.crashed
                    state = {"worker": "failed" if failed else "running", "batches": ingest.batches}
                if agent is not None:
                    state["delivery"] = "failed" if agent.crashed else "running"
                return state

            # Export jobs read and record through stores of their own: a long job
            # never holds the client the page's reads use.
            jobs_store = Store.from_settings(settings)
            stores.append(jobs_store)
            # Every export ends as an `export.create` activity, published to Kafka.
            audit = export_audit(settings, source="activitylog-api")
            ledger = ExportLedger(jobs_store, settings, observer=audit)  # one per process
            jobs = ExportJobRunner(settings, jobs_store, ledger=ledger)
            jobs.start()
            app = create_api(
                reader_store, settings, health=health, jobs=jobs, ledger=ledger, audit=audit
            )
            server = _server_class()(
                uvicorn.Config(
                    app, log_level="warning", access_log=False, lifespan="off", log_config=None
                )
            )
            server_task = asyncio.create_task(server.serve(sockets=[sock]))
        if ingest is not None:
            await ingest.start()
        if agent is not None:
            await agent.start()
            if not api and settings.delivery_metrics_port:
                prometheus_client.start_http_server(settings.delivery_metrics_port)
        write_serve_info(settings, api=api)
        info_written = True
        log.info(
            "running: worker=%s api=%s store=%s loop=%s",
            worker,
            f"{settings.api_base_url}" if api else "off",
            writer_store.location.describe(),
            running_loop_name(),
        )
        await _wait_for_stop(stop, ingest, server_task, agent)
    finally:
        log.info("stopping")
        if agent is not None:
            with contextlib.suppress(Exception):
                await agent.stop()
        if jobs is not None:
            jobs.interrupt()  # first: a job in flight must not finish during a slow stop
        if ingest is not None:
            with contextlib.suppress(Exception):
                await ingest.stop()
        if server is not None and server_task is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server_task, timeout=10)
        if jobs is not None:  # a job in flight stays queued and restarts at the next start
            await asyncio.to_thread(jobs.stop)
        if audit is not None:  # bounded; what Kafka did not take is logged as lost
            await asyncio.to_thread(audit.close, 5.0)
        for store in stores:
            store.close()
        if info_written:
            with contextlib.suppress(OSError):
                serve_info_path(settings).unlink()
    if ingest is not None and ingest.app.crashed:
        raise WorkerFailed(f"the worker stopped on an error: {ingest.app.crash_reason}")
    if agent is not None and agent.crashed:
        raise WorkerFailed(f"the delivery agent stopped on an error: {agent.crash_reason}")


async def _wait_for_stop(
    stop: asyncio.Event, ingest: Any, server_task: asyncio.Task[None] | None, agent: Any = None
) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        if ingest is not None and (ingest.app.crashed or ingest.app.should_stop):
            log.error("the worker stopped: %s", ingest.app.crash_reason)
            return
        if server_task is not None and server_task.done():
            log.error("the API server stopped")
            return
        if agent is not None and agent.crashed:
            log.error("the delivery agent stopped: %s", agent.crash_reason)
            return


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn without its own signal handling: the runtime owns SIGTERM/SIGINT."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server
