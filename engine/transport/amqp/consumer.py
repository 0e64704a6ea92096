"""The shard side of RabbitMQ: consume shard queues into the actors, and be their `Outlet`.

One channel per shard queue, prefetch sized to the batch: an actor's batch then never waits
for deliveries the broker holds back, and `ack(multiple=True)` on a channel covers exactly
that queue's messages. A worker consumes its own shard queues first and the others as a
standby (single active consumer): when a worker dies, the broker hands its queues over.

A message may carry commands of several events (a gateway packs a whole virtual bucket into
one), and an actor may settle them in parts — ack some, dead-letter one — when it isolates a
poison command. Each delivery is therefore handed over as a `Delivery` token that tracks its
commands not yet settled: the message is acked (or rejected) once, after the last of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from engine.messages import (
    Command,
    Outcome,
    RoomUpdate,
    StockUpdate,
    WireError,
    decode_commands,
    encode_commands,
    encode_outcomes,
    encode_rooms,
    encode_stock,
)
from engine.metrics import Metrics
from engine.runtime import ShardStore
from engine.settings import Settings
from engine.transport.amqp import topology
from engine.transport.amqp.errors import BROKER_ERRORS
from engine.transport.amqp.topology import Names
from engine.transport.base import Envelope
from engine.transport.stock_throttle import StockThrottle

log = logging.getLogger(__name__)

#: How long a worker waits before registering as standby on other workers' queues, so that
#: workers started together each become the active consumer of their own queues first.
STANDBY_DELAY_SECONDS = 2.0

Submit = Callable[[int, Envelope], None]


@dataclass(slots=True, eq=False)
class Delivery:
    """One message from a shard queue, as the token of the envelope(s) carrying its commands.

    An actor may split a message's commands over several envelopes sharing this token; the
    message is settled (acked or rejected) once, when every command it carried was acked or
    dead-lettered. Commands are told apart by identity (the objects the actor was handed),
    so settling one twice never counts for another.
    """

    message: AbstractIncomingMessage
    #: The commands the message carried (held, so that their identities stay unique).
    commands: list[Command]
    #: Identities of the commands neither acked nor dead-lettered yet.
    open: set[int] = field(init=False)
    #: The broker was told: acked, rejected or requeued.
    settled: bool = False

    def __post_init__(self) -> None:
        self.open = {id(cmd) for cmd in self.commands}

    def covers_all(self, commands: Sequence[Command]) -> bool:
        """Whether these are every command of the message, none of them settled yet."""
        return len(self.open) == len(self.commands) and \
            self.open <= {id(cmd) for cmd in commands}

    def channel_key(self) -> int | None:
        """Its channel's identity (deliveries are acked per channel), None once it is gone:
        the broker has then requeued the message itself."""
        try:
            return id(self.message.channel)
        except BROKER_ERRORS:
            return None


class AmqpShardConsumer:
    """Feeds shard actors from RabbitMQ and implements their Outlet."""

    def __init__(self, settings: Settings, submit: Submit, store: ShardStore, *,
                 metrics: Metrics | None = None) -> None:
        if settings.amqp_url is None:
            raise ValueError("AmqpShardConsumer needs AMQP_URL")
        self._url = settings.amqp_url
        self._names = Names(settings.amqp_prefix, settings.shards)
        self._submit = submit
        self._store = store
        self._metrics = metrics or Metrics()
        self._index, self._workers = settings.shard_worker_index, settings.shard_workers
        self._deadline = settings.reconnect_deadline_seconds
        self._prefetch = settings.max_batch
        self._connection: AbstractRobustConnection | None = None
        self._confirmed: AbstractChannel | None = None
        self._bookings: AbstractExchange | None = None
        self._dead: AbstractExchange | None = None
        self._fast: AbstractChannel | None = None
        self._stock: AbstractExchange | None = None
        self._replies: AbstractExchange | None = None
        self._buckets = settings.amqp_buckets
        #: Stock of every actor of this worker, one message per interval at most.
        self._stock_throttle = StockThrottle(self._publish_stock,
                                             interval=settings.stock_interval_ms / 1000)
        self._consumers: list[tuple[AbstractQueue, str]] = []
        #: Deliveries some of whose commands are settled and some not: a later message on
        #: the same channel must not be acked with multiple=True while one of these is open.
        self._partial: set[Delivery] = set()
        self._standby: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._reconnected = asyncio.Event()
        #: Set when the consumers cannot be restored: the process should exit non-zero.
        self.lost = asyncio.Event()

    def own_shards(self) -> list[int]:
        """Shards this worker is meant to be active for."""
        return [n for n in range(self._names.shards) if n % self._workers == self._index]

    async def start(self) -> None:
        """Connect, declare and check the topology, consume own queues, later the others."""
        self._connection, self._confirmed, self._bookings = await topology.open_topology(
            self._url, f"ticketwar-shards-{self._index}", self._names)
        # Declared by open_topology: only the handle is needed, on the confirmed channel.
        self._dead = await self._confirmed.get_exchange(self._names.dead, ensure=False)
        self._connection.close_callbacks.add(self._on_close)
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        # Outcomes and stock need no confirm: the database already holds the truth.
        self._fast = await self._connection.channel(publisher_confirms=False)
        self._stock = await self._fast.get_exchange(self._names.stock)
        self._replies = await self._fast.get_exchange(self._names.replies)
        for shard in self.own_shards():
            await self._consume(shard)
        await self._consume_dead()
        others = [n for n in range(self._names.shards) if n not in self.own_shards()]
        if others:
            self._standby = asyncio.create_task(self._consume_later(others))

    async def _consume(self, shard: int) -> None:
        assert self._connection is not None
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        # Declared (same arguments, a no-op) rather than fetched: only a declared queue is
        # re-declared and re-consumed by the robust channel after a broker restart.
        queue = await channel.declare_queue(
            self._names.shard(shard), durable=True,
            arguments=topology.shard_queue_arguments(self._names))

        async def deliver(message: AbstractIncomingMessage) -> None:
            self._metrics.amqp_messages.labels("delivered", "commands").inc()
            try:
                commands = decode_commands(message.body)
            except WireError as exc:
                log.error("shard %d: poison message dead-lettered: %s", shard, exc)
                await message.reject(requeue=False)
                return
            self._metrics.amqp_commands.labels("delivered").inc(len(commands))
            token = Delivery(message, commands)
            self._submit(shard, Envelope(commands, token=token,
                                         redelivered=bool(message.redelivered)))

        tag = await queue.consume(deliver, no_ack=False)
        self._consumers.append((queue, tag))

    async def _consume_later(self, shards: list[int]) -> None:
        await asyncio.sleep(STANDBY_DELAY_SECONDS)
        for shard in shards:
            await self._consume(shard)

    async def _consume_dead(self) -> None:
        assert self._connection is not None
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=64)
        queue = await channel.declare_queue(self._names.dead, durable=True,
                                            arguments=topology.DEAD_QUEUE_ARGUMENTS)

        async def deliver(message: AbstractIncomingMessage) -> None:
            try:
                commands = decode_commands(message.body)
            except WireError:
                log.error("dead letter is not a command; nothing to answer")
                await message.ack()
                return
            self._metrics.dead_letters.inc(len(commands))
            # Recorded rejected (so readable later) and answered, never dropped.
            await self.send_outcomes(await self._store.dead_lettered(commands))
            await message.ack()  # after the rejection is recorded: at-least-once

        tag = await queue.consume(deliver, no_ack=False)
        self._consumers.append((queue, tag))

    # -- connection health ---------------------------------------------------------------

    def _on_close(self, *_: object) -> None:
        if self._connection is None:  # our own stop()
            return
        self._reconnected.clear()
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._await_reconnect())

    def _on_reconnect(self, *_: object) -> None:
        self._metrics.reconnects.labels("shards").inc()
        self._reconnected.set()
        log.info("RabbitMQ connection restored; consumers resumed")

    async def _await_reconnect(self) -> None:
        try:
            await asyncio.wait_for(self._reconnected.wait(), self._deadline)
        except TimeoutError:
            log.error("RabbitMQ not back within %.0fs: giving up", self._deadline)
            self.lost.set()

    async def stop_consuming(self) -> None:
        """Stop taking deliveries (first step of shutdown); unacked ones stay ours until
        the connection closes, then go back to their queue."""
        if self._standby is not None:
            self._standby.cancel()
        for queue, tag in self._consumers:
            with contextlib.suppress(*BROKER_ERRORS):
                await queue.cancel(tag)
        self._consumers.clear()

    async def stop(self) -> None:
        """Close everything; idempotent."""
        await self.stop_consuming()
        await self._stock_throttle.close()  # the last batches' seats left still go out
        connection, self._connection = self._connection, None
        if self._watchdog is not None:
            self._watchdog.cancel()
        if connection is not None and not connection.is_closed:
            await connection.close()

    # -- Outlet ----------------------------------------------------------------------------

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        """Count the envelopes' commands settled, and ack each message whose commands all are:
        per channel, the last such delivery with multiple=True.

        An envelope may carry only part of its message (an actor that split it); the message
        waits for the rest. multiple=True is safe because an actor takes its queue in order:
        every earlier delivery on that channel belongs to this batch or an earlier, committed
        one — unless it is still partly open, and then each message is acked on its own. An
        ack that fails (the channel was lost) is fine too: the broker redelivers, flagged,
        and the actor finds the outcome in the database.
        """
        complete: list[Delivery] = []
        for envelope in envelopes:
            delivery = envelope.token
            # Settled already: acked before a restarted actor went through it again.
            if isinstance(delivery, Delivery) and not delivery.settled \
                    and self._settle(delivery, envelope.commands):
                complete.append(delivery)
        by_channel: dict[int, list[Delivery]] = defaultdict(list)
        for delivery in complete:
            key = delivery.channel_key()
            if key is not None:  # its channel is gone: the broker has already requeued it
                by_channel[key].append(delivery)
        for key, deliveries in by_channel.items():
            last = max(deliveries, key=lambda d: d.message.delivery_tag or 0)
            tag = last.message.delivery_tag or 0
            if any(p.channel_key() == key and (p.message.delivery_tag or 0) < tag
                   for p in self._partial):
                for delivery in deliveries:
                    await self._ack_one(delivery.message, multiple=False)
            else:
                await self._ack_one(last.message, multiple=True)

    def _settle(self, delivery: Delivery, commands: Sequence[Command]) -> bool:
        """Mark these commands of the delivery settled; True when that completes it."""
        delivery.open.difference_update(id(cmd) for cmd in commands)
        if delivery.open:
            self._partial.add(delivery)
            return False
        delivery.settled = True
        self._partial.discard(delivery)
        return True

    @staticmethod
    async def _ack_one(message: AbstractIncomingMessage, *, multiple: bool) -> None:
        try:
            await message.ack(multiple=multiple)
        except BROKER_ERRORS as exc:
            log.warning("ack lost (%s); the broker will redeliver", type(exc).__name__)

    async def send_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """One message per reply queue, through the replies exchange. One the exchange
        cannot route — its queue gone (the gateway reconnected under a new one, or died), or
        none named (a hold this worker loaded as the event's new owner expiring, warned of
        or offered) — the broker passes to the stock fanout: every gateway hears it and
        tells its owners' streams (the database holds the outcome either way)."""
        by_queue: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in outcomes:
            by_queue[outcome.reply_to].append(outcome)
        for reply_to, group in by_queue.items():
            await self._fast_publish(self._replies, encode_outcomes(group), reply_to,
                                     "outcomes")

    async def send_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Broadcast seats left to every gateway: with the stock of this worker's other
        batches of the same few milliseconds, in one message (`StockThrottle`)."""
        self._stock_throttle.put(updates)

    async def send_rooms(self, updates: Sequence[RoomUpdate]) -> None:
        """Broadcast waiting-room changes on the stock fanout, one message per batch: not
        throttled like stock, since each change counts (a gateway that misses one sees the
        gap in the versions and reloads the room)."""
        await self._fast_publish(self._stock, encode_rooms(list(updates)), "", "rooms")

    async def _publish_stock(self, updates: list[StockUpdate]) -> None:
        await self._fast_publish(self._stock, encode_stock(updates), "", "stock")

    async def _fast_publish(self, exchange: AbstractExchange | None, body: bytes,
                            routing_key: str, kind: str) -> None:
        if self._fast is None or self._fast.is_closed:
            return  # nothing to do: clients fall back to the database
        target = exchange or self._fast.default_exchange
        try:
            await target.publish(aio_pika.Message(body, content_type="application/json"),
                                 routing_key, mandatory=False)
        except BROKER_ERRORS as exc:
            log.warning("could not publish to %r: %s", routing_key, type(exc).__name__)
        else:
            self._metrics.amqp_messages.labels("published", kind).inc()

    async def dead_letter(self, envelope: Envelope) -> None:
        """Give up on the envelope's commands: the dead-letter consumer records and answers
        each as rejected.

        A whole message is rejected without requeue, and the queue dead-letters it. Part of
        one (an actor isolated a poison command of a mixed message) is published to the
        dead-letter exchange, confirmed, and counts as settled: the message is acked once
        its other commands are. If that publish fails, the whole message is requeued: it
        comes back flagged, and its decided commands are answered from the database.
        """
        delivery = envelope.token
        if not isinstance(delivery, Delivery) or delivery.settled:
            return
        message = delivery.message
        if delivery.covers_all(envelope.commands):
            delivery.settled = True
            self._partial.discard(delivery)
            try:
                await message.reject(requeue=False)
            except BROKER_ERRORS as exc:
                log.warning("reject lost (%s); it will be redelivered", type(exc).__name__)
            return
        try:
            await self._publish_commands(self._dead, "", list(envelope.commands))
        except BROKER_ERRORS as exc:
            log.warning("dead letter not kept (%s); requeueing its message",
                        type(exc).__name__)
            delivery.settled = True
            self._partial.discard(delivery)
            with contextlib.suppress(*BROKER_ERRORS):
                await message.nack(requeue=True)
            return
        if self._settle(delivery, envelope.commands) \
                and delivery.channel_key() is not None:
            await self._ack_one(message, multiple=False)

    async def forward(self, commands: Sequence[Command]) -> None:
        """Re-publish commands to the exchange (it routes each bucket to its current queue),
        one message per bucket, with confirms: the originals are acked right after, so these
        must not be lost."""
        for key, group in topology.by_routing_key(commands, self._buckets).items():
            await self._publish_commands(self._bookings, key, group)

    async def _publish_commands(self, exchange: AbstractExchange | None, routing_key: str,
                                commands: list[Command]) -> None:
        assert exchange is not None, "publishing before start()"
        await exchange.publish(
            aio_pika.Message(encode_commands(commands), content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key, mandatory=True)
        self._metrics.amqp_messages.labels("published", "commands").inc()
        self._metrics.amqp_commands.labels("published").inc(len(commands))
