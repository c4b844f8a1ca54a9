"""The worker's fast path through Faust: per-message costs removed at Faust's extension points.

What, each registered the supported way:

* `FastConsumer` (the aiokafka driver's `Consumer`, chosen through
  `FastTransport.Consumer`, installed with the app's public `transport`
  setter) replaces the private `_drain_messages` loop and `getmany`;
* `BatchStream` (the `Stream` app setting) adds `take_unacked`, batches
  taken straight off the channel queue, never acked;
* `QuietMonitor` (the `Monitor` app setting) keeps no per-event statistics;
* `RawSchema` (a topic's `schema`) hands over the bytes without Faust's
  codec registry.

Why: in faust-streaming 0.15.3 the stock drain loop awaits
`Service.wait_first(callback(message), suspend_flow.wait())` for every
record: four futures and an `asyncio.wait` per message, about half of the
time Faust spends per event (docs/components.md, faust-streaming). Here the callback is awaited
directly and the rebalance signal (`suspend_flow`) is checked between
records instead, which is what the race existed for:

* when a rebalance starts (`stop_flow()` sets `suspend_flow`) the loop stops
  handing out the rest of the fetched batch, exactly as the stock `getmany`
  does when `flow_active` drops; those records were never delivered, their
  read offsets were not advanced, and Faust seeks back to the committed
  offsets on assignment, so they are fetched again;
* a callback that blocks on a full stream buffer is woken by the rebalance
  itself (`flow_control.clear()` cancels the queue's waiting putters), and a
  message delivered late carries the old generation id, which every stream
  skips (`Stream` checks `message.generation_id`).

Nothing about acks or commits changes: offsets are still committed only
from acked messages, and the agent acks only after the insert.

The override touches a private method, so it is tied to the Faust version it
was read from: `install()` uses it only on `SUPPORTED_FAUST_VERSIONS` and
otherwise logs a warning and keeps Faust's own consumer (correct, slower).
A test checks that the fast path is active and loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Any, cast

import faust
from faust.sensors.monitor import Monitor
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message

log = logging.getLogger(__name__)

# The faust-streaming releases whose `Consumer._drain_messages` this module
# was written against (pinned in pyproject.toml). Re-read the upstream loop
# before adding a version.
SUPPORTED_FAUST_VERSIONS: frozenset[str] = frozenset({"0.15.3"})

# Hand control back to the event loop this often while draining a fetch, as
# the stock loop does, so the agent and the HTTP API are never starved.
_YIELD_EVERY = 100


class FastConsumer(aiokafka_driver.Consumer):
    """The aiokafka consumer with a drain loop that awaits each callback directly."""

    #: Messages handed to the conductor by the fast loop (tests check it moved).
    fast_path_messages: int = 0

    async def getmany(self, timeout: float) -> Any:
        """Faust's `getmany` without the two per-record calls that only feed the Monitor.

        The stock loop asks for the partition's high watermark and hands it to
        `monitor.track_tp_end_offset` for every record; `QuietMonitor` drops
        it, and the worker reports consumer lag per batch instead. Everything
        else is as upstream: the round-robin over partitions, the stop on a
        generation change or paused flow, the seek back when flow is off.
        """
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        to_message = self._to_message
        buffered = self._buffered_partitions
        if self.flow_active:
            for tp, record in self.scheduler.iterate(records):
                if not self.flow_active:
                    break
                if self.app.consumer_generation_id != generation_id:
                    break
                if active_partitions is None or tp in active_partitions or tp in buffered:
                    yield tp, to_message(tp, record)
        else:
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning(f"exception performing seek when flow not active {exc}")

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - runs in Faust
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        flow_suspended = self.suspend_flow.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        sleep = asyncio.sleep
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                records = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    delivered = 0
                    async for tp, message in records:
                        if flow_suspended():
                            # A rebalance began: the rest is fetched again after it.
                            break
                        since_yield += 1
                        if since_yield > _YIELD_EVERY:
                            await sleep(0)
                            since_yield = 0
                        offset = message.offset
                        read = get_read_offset(tp)
                        if read is None or offset >= read:
                            if read and offset - read > 1 and acks_enabled_for(message.topic):
                                await self._add_gap(tp, read + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            await callback(message)
                            set_read_offset(tp, offset)
                            delivered += 1
                    self.fast_path_messages += delivered
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class FastTransport(aiokafka_driver.Transport):
    """The aiokafka transport, creating `FastConsumer`s."""

    Consumer = FastConsumer


class QuietMonitor(Monitor):
    """Faust's main sensor without its per-message and per-event bookkeeping.

    The stock `Monitor` records timings for every message and event (used by
    Faust's web views, disabled here); the worker's own Prometheus metrics in
    `processors.metrics` are counted per batch instead.
    """

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        return None

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> Any:
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        return None

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        return None

    def batch_in(self, batch: list[Any]) -> None:
        """Note that the stream is processing these events' partitions now, once per batch.

        Why: Faust's consumer liveness check reads `stream_inbound_time` (set by
        the stock `on_stream_event_in`, a no-op here) and, when it finds none
        while the partition has lag, logs "Stream has not started processing"
        as an ERROR every few seconds under steady load: a false alarm.
        """
        now = monotonic()
        inbound = self.stream_inbound_time
        for tp in {event.message.tp for event in batch}:
            inbound[tp] = now


class RawSchema(faust.Schema[bytes, bytes]):
    """A topic schema that hands over the message's key and value bytes untouched.

    Faust's own "raw" serializer reaches the same bytes through its codec
    registry, two codec lookups and several settings reads per message;
    the worker keeps the bytes as they are anyway (they go to the
    dead-letter topic unchanged), so `compile` (the public hook a `Topic`
    uses to build its decoder) returns a decoder that only creates the event.
    """

    def compile(self, app: Any, **kwargs: Any) -> Any:
        event_type = app.conf.Event

        async def decode(message: Message, *, propagate: bool = False) -> Any:
            return event_type(app, message.key, message.value, message.headers, message)

        return decode


class BatchStream(faust.Stream):  # type: ignore[type-arg]
    """A Faust stream with `take_unacked`: batches taken straight off the channel's queue.

    Why: `noack_take` feeds its buffer through the stream iterator, which
    awaits `asyncio.sleep(0)` and a buffer processor for every event (one
    event-loop turn, an epoll call, per message). `take_unacked` keeps what
    that path does for correctness and drops the per-event turn:

    * it subscribes the same way (`aiter(self.channel)` registers the
      iterator channel with the conductor, as `noack_take` does);
    * it takes with the queue's own `get`/`get_nowait`, so Faust's flow
      control sees the buffer drain and resumes paused partitions;
    * an event from an older consumer generation (a rebalance happened
      since it was fetched) is dropped unacked, as the stream iterator skips
      it; the partition's new owner reads it again from the committed offset;
    * events of acking topics are tracked as unacked, as the iterator does,
      so Faust's rebalance waits for the batch in flight;
    * nothing is acked here: the caller acks each event after storing it.
    """

    async def take_unacked(self, max_: int, within: float) -> Any:
        """Yield lists of up to `max_` events, each after at most `within` seconds of waiting."""
        await self.maybe_start()
        channel: Any = aiter(self.channel)
        queue = channel.queue
        app: Any = self.app
        consumer = app.consumer
        flow_control = app.flow_control
        acking_topics = app.topics.acking_topics
        track = consumer.unacked.add
        mark_inbound = getattr(app.monitor, "batch_in", None)
        loop = asyncio.get_running_loop()
        since_yield = 0
        while not self.should_stop:
            batch: list[Any] = []
            deadline = loop.time() + within
            while len(batch) < max_:
                if queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        event = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    event = queue.get_nowait()
                    since_yield += 1
                    if since_yield >= _YIELD_EVERY * 10:
                        since_yield = 0
                        await asyncio.sleep(0)  # let the fetcher and the API run
                message = event.message
                if (
                    not flow_control.is_active()
                    or message.generation_id != app.consumer_generation_id
                ):
                    continue
                if message.topic in acking_topics and not message.tracked:
                    message.tracked = True
                    track(message)
                batch.append(event)
            if batch:
                if mark_inbound is not None:
                    mark_inbound(batch)
                yield batch


def fast_path_supported(version: str = faust.__version__) -> bool:
    """Whether this Faust release is one the drain-loop override was written for."""
    return version in SUPPORTED_FAUST_VERSIONS


def install(app: faust.App) -> bool:
    """Give `app` the fast consumer (before it starts); False, with a warning, if unsupported.

    Uses the app's public `transport` setter: the consumer is created from
    the transport's `Consumer` class when the app starts.
    """
    if not fast_path_supported():
        log.warning(
            "faust-streaming %s is not one of %s: using Faust's own (slower) consumer",
            faust.__version__,
            ", ".join(sorted(SUPPORTED_FAUST_VERSIONS)),
        )
        return False
    app.transport = FastTransport(app.conf.broker_consumer, app)
    return True


def is_active(app: faust.App) -> bool:
    """True when the app's consumer is a `FastConsumer`."""
    return isinstance(cast(Any, app).consumer, FastConsumer)
