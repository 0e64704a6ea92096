"""The RabbitMQ transport, gateway side: publish commands with confirms, receive outcomes on
this gateway's reply queue and stock updates from the fanout.

Commands are routed by their event's virtual bucket (`topology.routing_key`), and every
command for one bucket arriving within `COALESCE_MS` travels in one message with one confirm,
whatever its event: with events spread over many shards, coalescing per event packed nothing.
So the messages a gateway publishes per second are bounded by buckets / window, however many
requests arrive.

`send()` returns once the broker confirmed the message (persistent, mandatory, on a quorum
queue): from then on it survives this process. What a failure means depends on when it struck:

- before the message left (not connected, channel closed, too many confirms outstanding) or
  when the broker refused it (a nack, a return): `Unavailable` — it was not kept, answer 503;
- while waiting for the confirm (a timeout, the link lost): `DeliveryUncertain` — the broker
  may have kept it and a shard may decide it, so the sender must not say "failed".
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

from engine.errors import DeliveryUncertain, Unavailable
from engine.messages import (
    Broadcast,
    Command,
    Outcome,
    StockUpdate,
    WireError,
    decode_broadcast,
    decode_outcomes,
    encode_commands,
    encode_pushes,
    encode_stock,
)
from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.runtime import ShardStore
from engine.settings import Settings
from engine.transport.amqp import topology
from engine.transport.amqp.errors import BROKER_ERRORS
from engine.transport.amqp.topology import Names

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Publishes awaiting a confirm at once. Confirms are pipelined (many publishes share the
#: channel, each awaits its own ack), but an unbounded window would let a broker that
#: stalls pile up memory and latency: past this, a publish is refused at once (503).
MAX_IN_FLIGHT = 4096

#: The broker answered, and the answer was no: the message is certainly not in a queue.
#: A closed channel is refused by aiormq before anything is written.
NOT_KEPT: tuple[type[BaseException], ...] = (
    aiormq.exceptions.DeliveryError,  # a nack, and PublishError: a return (unroutable)
    aiormq.exceptions.ChannelInvalidStateError,
)


def create(settings: Settings, notifications: Notifications, *, metrics: Metrics,
           store: ShardStore | None) -> AmqpTransport:
    """The registry's factory. The shard actors run in worker processes, so `store` is not
    needed here."""
    return AmqpTransport(settings, notifications, metrics=metrics)


class AmqpTransport:
    """Transport over RabbitMQ; see module docstring."""

    def __init__(self, settings: Settings, notifications: Notifications, *,
                 metrics: Metrics | None = None) -> None:
        if settings.amqp_url is None:
            raise ValueError("AmqpTransport needs AMQP_URL")
        self._url = settings.amqp_url
        self._names = Names(settings.amqp_prefix, settings.shards)
        self._buckets = settings.amqp_buckets
        self._timeout = settings.publish_timeout_seconds
        self._window = settings.coalesce_ms / 1000
        self._metrics = metrics or Metrics()
        self.reply_to = f"{settings.amqp_prefix}.reply.{uuid.uuid4().hex}"
        self._notifications = notifications
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        #: Where outcomes and stock arrive; its queues are this connection's own.
        self._receive: aio_pika.abc.AbstractRobustChannel | None = None
        #: Whether this connection's reply and stock queues are declared and consumed.
        self._listening = False
        #: The declaration of new ones after a reconnect, while it runs.
        self._relisten: asyncio.Future[None] | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._stock_exchange: AbstractExchange | None = None
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        #: Commands waiting for their window to close, and its one confirm, by routing key.
        self._pending: dict[str, list[Command]] = {}
        self._flushes: dict[str, asyncio.Future[None]] = {}
        #: Buckets whose message awaits its confirm: the next one waits for it.
        self._sending: set[str] = set()
        #: Who this process is on the stock fanout: its own relayed pushes come back to it.
        self._origin = uuid.uuid4().hex
        #: Booking updates to relay, gathered until the end of this turn of the loop.
        self._relaying: list[Outcome] = []
        self._relays: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, declare and check the topology, and start receiving."""
        self._connection, self._publish_channel, self._exchange = \
            await topology.open_topology(self._url, "ticketwar-gateway", self._names)
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        self._connection.close_callbacks.add(self._on_close)
        self._receive = await self._connection.channel()
        await self._receive.set_qos(prefetch_count=256)
        self._stock_exchange = await self._publish_channel.get_exchange(self._names.stock)
        await self._listen()

    async def _listen(self) -> None:
        """Declare this connection's own reply and stock queues, consume them, and address
        the outcomes of commands sent from now on to the new reply queue.

        Both are exclusive to the connection and made anew, under new names, on every
        reconnect — not restored under their old names by the robust channel: when the node
        they lived on is cut off, the rest of the cluster keeps them, exclusive to a
        connection that is gone, until it declares that node down (a minute or more), and
        declaring one again is refused RESOURCE_LOCKED, which failed the whole reconnect
        (publishing included) until then. Outcomes still addressed to the old queue are
        lost; their requests answer 202 and are decided all the same."""
        assert self._receive is not None
        reply_to = f"{self._names.prefix}.reply.{uuid.uuid4().hex}"
        replies = await self._receive.declare_queue(reply_to, exclusive=True, auto_delete=True,
                                                    robust=False)
        # Outcomes come through the replies exchange, under the queue's name: one addressed
        # to a queue of ours that is gone reaches every gateway on the stock fanout instead.
        await replies.bind(await self._receive.get_exchange(self._names.replies),
                           routing_key=reply_to, robust=False)
        await replies.consume(self._on_outcomes, no_ack=True, robust=False)
        stock_exchange = await self._receive.get_exchange(self._names.stock)
        stock = await self._receive.declare_queue(exclusive=True, auto_delete=True,
                                                  robust=False)
        await stock.bind(stock_exchange, robust=False)
        await stock.consume(self._on_stock, no_ack=True, robust=False)
        self.reply_to = reply_to
        self._listening = True

    def _on_close(self, *_: object) -> None:
        # The stock fanout queue goes with the connection: broadcasts are missed from now on.
        self._notifications.stale()

    def _on_reconnect(self, *_: object) -> None:
        self._metrics.reconnects.labels("gateway").inc()
        # ...until now: whatever was learned before the outage may be stale.
        self._notifications.stale()
        log.info("RabbitMQ connection restored")
        self._listening = False
        # In a task of its own: aio-pika awaits its reconnect callbacks inside its own
        # reconnect, which must not wait on declarations that may need it to finish first.
        if self._relisten is not None:
            self._relisten.cancel()
        self._relisten = asyncio.ensure_future(self._listen_again())

    async def _listen_again(self) -> None:
        """New reply and stock queues for the new connection, retried while it stands (a
        further reconnect starts this anew); `healthy()` is false until they exist."""
        pause = 0.1
        while self._connection is not None and not self._connection.is_closed:
            try:
                await self._listen()
                return
            except BROKER_ERRORS + NOT_KEPT as exc:
                log.warning("no reply queue after reconnecting (%s); retrying",
                            type(exc).__name__)
                await asyncio.sleep(pause)  # a backoff between attempts
                pause = min(pause * 2, 2.0)

    async def stop(self) -> None:
        """Close the connection (channels and consumers with it); idempotent."""
        if self._relisten is not None:
            self._relisten.cancel()
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def healthy(self) -> bool:
        """True while connected, the publishing channel open and the replies received."""
        return (self._connection is not None and not self._connection.is_closed
                and self._publish_channel is not None and not self._publish_channel.is_closed
                and self._listening)

    # -- sending -------------------------------------------------------------------------

    async def send(self, commands: Sequence[Command]) -> None:
        """Publish durably, coalesced with every other command for the same virtual bucket
        (any event in it): those that arrive within the window, and those that arrive while
        the bucket's previous message awaits its confirm — at most one message per bucket is
        in flight, so messages per second stay bounded (buckets / confirm time) however fast
        requests come, and batches grow with the load instead, as in group commit."""
        key = topology.routing_key(commands[0].event_id, self._buckets)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = []
            loop = asyncio.get_running_loop()
            flush = self._flushes[key] = loop.create_future()
            # Its waiters may all be gone (cancelled requests) when it fails: mark the error
            # seen, so asyncio does not log it as never retrieved; each waiter still gets it.
            flush.add_done_callback(lambda f: f.cancelled() or f.exception())
            if key not in self._sending:
                # Without a window, still after this turn of the loop: what the same turn
                # sends shares the message.
                loop.call_later(self._window, self._flush, key)
            # else: the message in flight sends this one when its confirm arrives.
        else:
            flush = self._flushes[key]
        # In arrival order: an event's commands keep their order inside the message, and its
        # messages leave in order, one at a time, to the one queue of the bucket.
        pending.extend(commands)
        # Every request of the group waits for the one confirm of the shared message.
        await asyncio.shield(flush)

    def _flush(self, key: str) -> None:
        commands = self._pending.pop(key, None)
        if not commands:
            return
        future = self._flushes.pop(key)
        self._sending.add(key)
        task = asyncio.ensure_future(self._publish(key, commands))

        def settle(t: asyncio.Task[None]) -> None:
            self._sending.discard(key)
            if key in self._pending:
                self._flush(key)  # gathered while this one awaited its confirm: send now
            if future.done():
                return
            if t.cancelled():
                # Only stop() cancels a publish of ours, and the message may have left by
                # then: its waiters must hear "uncertain", never a cancellation, which
                # each would take for its own (a request dropped, a re-send abandoned).
                future.set_exception(DeliveryUncertain(
                    "the publish was cancelled awaiting its confirm: it may have been kept"))
            elif t.exception() is not None:
                future.set_exception(t.exception())  # type: ignore[arg-type]
            else:
                future.set_result(None)
        task.add_done_callback(settle)

    async def _publish(self, key: str, commands: list[Command]) -> None:
        if not await self.healthy() or self._exchange is None:
            raise Unavailable("RabbitMQ is not connected")
        if self._in_flight.locked():
            # Shed here rather than queue: a wait would only turn into a timeout later.
            raise Unavailable("too many publishes await a confirm", retry_after=1)
        message = aio_pika.Message(encode_commands(commands), content_type="application/json",
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        async with self._in_flight:
            self._metrics.confirms_in_flight.inc()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._timeout):
                    await self._exchange.publish(message, key, mandatory=True)
                self._metrics.confirm_seconds.observe(time.perf_counter() - started)
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # cancelled by us (stop): not an answer about the message
                # The broker client cancelled the confirm it awaited: its connection was
                # declared dead (missed heartbeats) with the message possibly on its way.
                raise DeliveryUncertain(
                    "the connection closed awaiting the confirm: it may have kept it") from exc
            except NOT_KEPT as exc:
                raise Unavailable(f"RabbitMQ refused the command: {type(exc).__name__}") \
                    from exc
            except BROKER_ERRORS as exc:
                raise DeliveryUncertain(
                    f"no confirm from RabbitMQ ({type(exc).__name__}): it may have kept it") \
                    from exc
            finally:
                self._metrics.confirms_in_flight.dec()
        self._metrics.amqp_messages.labels("published", "commands").inc()
        self._metrics.amqp_commands.labels("published").inc(len(commands))

    async def broadcast_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Publish on the stock fanout every gateway listens to (this one included)."""
        await self._fanout(encode_stock(list(updates)), "stock", "stock broadcast")

    async def _fanout(self, body: bytes, kind: str, what: str) -> None:
        """Publish a hint on the stock fanout; not connected or refused, it is dropped (the
        next batch broadcasts stock again; a page polls its booking)."""
        if self._stock_exchange is None or not await self.healthy():
            return
        try:
            await self._stock_exchange.publish(
                aio_pika.Message(body, content_type="application/json"), "")
        except BROKER_ERRORS as exc:
            log.warning("%s lost: %s", what, type(exc).__name__)
        else:
            self._metrics.amqp_messages.labels("published", kind).inc()

    def relay(self, outcomes: Sequence[Outcome]) -> None:
        """Relay booking updates to the other gateway processes on the stock fanout: what
        one turn of the loop gathers travels in one message, so a burst of late decisions
        costs a message per batch, not per booking."""
        if not self._relaying:
            asyncio.get_running_loop().call_soon(self._send_relayed)
        self._relaying.extend(outcomes)

    def _send_relayed(self) -> None:
        outcomes, self._relaying = self._relaying, []
        task = asyncio.ensure_future(self._fanout(
            encode_pushes(outcomes, self._origin), "pushes",
            f"relay of {len(outcomes)} booking updates"))
        self._relays.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._relays.discard)

    # -- receiving -----------------------------------------------------------------------

    async def _on_outcomes(self, message: AbstractIncomingMessage) -> None:
        self._metrics.amqp_messages.labels("delivered", "outcomes").inc()
        for outcome in _decoded(decode_outcomes, message.body, "outcomes"):
            self._notifications.outcome(outcome)

    async def _on_stock(self, message: AbstractIncomingMessage) -> None:
        decoded: list[Broadcast] = _decoded(lambda body: [decode_broadcast(body)],
                                            message.body, "stock")
        for broadcast in decoded:
            if broadcast.pushes:
                self._metrics.amqp_messages.labels("delivered", "pushes").inc()
                if broadcast.origin != self._origin:  # its own streams were told already
                    self._notifications.pushed(broadcast.pushes)
                continue
            self._metrics.amqp_messages.labels("delivered", "stock").inc()
            if broadcast.stock:
                self._notifications.stock(broadcast.stock)
            if broadcast.rooms:
                self._notifications.rooms(broadcast.rooms)


def _decoded(decode: Callable[[bytes], list[T]], body: bytes, what: str) -> list[T]:
    """The items of a message, or none (logged) when it is malformed: a bad reply must not
    stop the consumer that serves every other one."""
    try:
        return decode(body)
    except (WireError, ValueError, KeyError) as exc:
        log.error("dropping a malformed %s message: %s", what, exc)
        return []
