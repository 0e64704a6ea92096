"""The RabbitMQ transport, gateway side: publish commands with confirms, receive outcomes on
this gateway's reply queue and stock updates from the fanout.

A command is answered 202 only after the broker confirmed it (persistent, mandatory, on a
quorum queue): from then on it survives this process. Any failure to get that confirm —
a nack, a return, a closed connection, a timeout — is `Unavailable` (503), never a silent drop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

from engine.errors import Unavailable
from engine.messages import (
    Command,
    WireError,
    decode_outcomes,
    decode_stock,
    encode_commands,
)
from engine.metrics import Metrics
from engine.transport import amqp_topology
from engine.transport.amqp_topology import Names
from engine.transport.base import OutcomeHandler, StockHandler

if TYPE_CHECKING:
    from engine.runtime import ShardRuntime
    from engine.settings import Settings

log = logging.getLogger(__name__)

#: Publishes awaiting a confirm at once. Confirms are pipelined (many publishes share the
#: channel, each awaits its own ack), but an unbounded window would let a broker that
#: stalls pile up memory and latency: past this, publishers wait (and time out as 503).
MAX_IN_FLIGHT = 4096

#: Errors that mean "the broker cannot take this now". Deliberately not RuntimeError or
#: Exception: anything else is a bug and must surface.
PUBLISH_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,  # DeliveryError (nack), PublishError (return), closed, ...
    # A RuntimeError subclass, not an AMQPError: raised when a channel's transport is gone.
    aiormq.exceptions.ChannelInvalidStateError,
    aio_pika.exceptions.AMQPException,
    ConnectionError,
    OSError,
    TimeoutError,
)


class AmqpTransport:
    """Transport over RabbitMQ; see module docstring."""

    def __init__(self, settings: Settings, runtime: ShardRuntime | None = None, *,
                 metrics: Metrics | None = None) -> None:
        if settings.amqp_url is None:
            raise ValueError("AmqpTransport needs AMQP_URL")
        self._url = settings.amqp_url
        self._names = Names(settings.amqp_prefix, settings.shards)
        self._timeout = settings.publish_timeout_seconds
        self._window = settings.coalesce_ms / 1000
        self._metrics = metrics or Metrics()
        self.reply_to = f"{settings.amqp_prefix}.reply.{uuid.uuid4().hex}"
        self._outcome_handlers: list[OutcomeHandler] = []
        self._stock_handlers: list[StockHandler] = []
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._pending: dict[int, list[Command]] = {}
        self._flushes: dict[int, asyncio.Future[None]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, declare and check the topology, and start receiving."""
        self._connection, self._publish_channel, self._exchange = \
            await amqp_topology.open_topology(self._url, "ticketwar-gateway", self._names)
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        receive = await self._connection.channel()
        await receive.set_qos(prefetch_count=256)
        replies = await receive.declare_queue(self.reply_to, exclusive=True, auto_delete=True)
        await replies.consume(self._on_outcomes, no_ack=True)
        stock_exchange = await receive.get_exchange(self._names.stock)
        stock = await receive.declare_queue(exclusive=True, auto_delete=True)
        await stock.bind(stock_exchange)
        await stock.consume(self._on_stock, no_ack=True)

    def _on_reconnect(self, *_: object) -> None:
        self._metrics.reconnects.labels("gateway").inc()
        log.info("RabbitMQ connection restored")

    async def stop(self) -> None:
        """Close the connection (channels and consumers with it); idempotent."""
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def healthy(self) -> bool:
        """True while connected and the publishing channel is open."""
        return (self._connection is not None and not self._connection.is_closed
                and self._publish_channel is not None and not self._publish_channel.is_closed)

    # -- sending -------------------------------------------------------------------------

    async def send(self, commands: Sequence[Command]) -> None:
        """Publish durably; coalesce with other commands for the same event in the window."""
        if self._window <= 0:
            await self._publish(list(commands))
            return
        event_id = commands[0].event_id
        pending = self._pending.get(event_id)
        if pending is None:
            pending = self._pending[event_id] = []
            loop = asyncio.get_running_loop()
            flush = self._flushes[event_id] = loop.create_future()
            loop.call_later(self._window, self._flush, event_id)
        else:
            flush = self._flushes[event_id]
        pending.extend(commands)
        # Every request of the group waits for the one confirm of the shared message.
        await asyncio.shield(flush)

    def _flush(self, event_id: int) -> None:
        commands = self._pending.pop(event_id)
        future = self._flushes.pop(event_id)
        task = asyncio.ensure_future(self._publish(commands))

        def settle(t: asyncio.Task[None]) -> None:
            if future.done():
                return
            if t.exception() is not None:
                future.set_exception(t.exception())  # type: ignore[arg-type]
            else:
                future.set_result(None)
        task.add_done_callback(settle)

    async def _publish(self, commands: list[Command]) -> None:
        if not await self.healthy() or self._exchange is None:
            raise Unavailable("RabbitMQ is not connected")
        message = aio_pika.Message(encode_commands(commands), content_type="application/json",
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        async with self._in_flight:
            self._metrics.confirms_in_flight.inc()
            try:
                async with asyncio.timeout(self._timeout):
                    await self._exchange.publish(message, str(commands[0].event_id),
                                                 mandatory=True)
            except PUBLISH_ERRORS as exc:
                raise Unavailable(f"RabbitMQ did not confirm: {type(exc).__name__}") from exc
            finally:
                self._metrics.confirms_in_flight.dec()

    # -- receiving -----------------------------------------------------------------------

    def on_outcome(self, handler: OutcomeHandler) -> None:
        """Register an outcome callback."""
        self._outcome_handlers.append(handler)

    def on_stock(self, handler: StockHandler) -> None:
        """Register a stock callback."""
        self._stock_handlers.append(handler)

    async def _on_outcomes(self, message: AbstractIncomingMessage) -> None:
        try:
            outcomes = decode_outcomes(message.body)
        except (WireError, ValueError, KeyError) as exc:
            log.error("dropping a malformed outcomes message: %s", exc)
            return
        for outcome in outcomes:
            for handler in self._outcome_handlers:
                handler(outcome)

    async def _on_stock(self, message: AbstractIncomingMessage) -> None:
        try:
            updates = decode_stock(message.body)
        except (WireError, ValueError, KeyError) as exc:
            log.error("dropping a malformed stock message: %s", exc)
            return
        for handler in self._stock_handlers:
            handler(updates)
