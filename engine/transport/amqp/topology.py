"""RabbitMQ topology: declared idempotently at start-up and checked before taking traffic.

    <prefix>.bookings   x-consistent-hash exchange, routing key = the event's virtual bucket
                        (`routing_key`); one message may carry commands of several events
      └─ <prefix>.shard.00 … .NN   durable quorum queues, each bound ONCE with weight "1"
         (single active consumer, delivery limit, at-least-once dead-lettering)
    <prefix>.dead       fanout → quorum queue <prefix>.dead (commands that could not be
                        processed; a worker answers each as `rejected`)
    <prefix>.stock      fanout; each gateway binds an exclusive queue for stock updates
    <prefix>.replies    direct; each gateway binds its reply queue under the queue's name.
                        Its alternate exchange is <prefix>.stock: an outcome for a reply
                        queue that is gone (a gateway reconnected under a new one, or died)
                        or for none (a hold a new owner loaded) reaches every gateway
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq.exceptions import (
    AMQPChannelError,
    AMQPConnectionError,
    ChannelNotFoundEntity,
    ConnectionCommandInvalid,
)
from yarl import URL

from engine.errors import BrokerPluginMissing, BrokerUnreachable, Unavailable
from engine.messages import Command
from engine.settings import Secret
from engine.transport.amqp.nodes import NodesConnection, split_urls
from engine.transport.base import bucket_for
from engine.types import EventId

#: A command redelivered this many times (its worker died or nacked each time) is
#: dead-lettered and answered as rejected, instead of poisoning the shard forever.
DELIVERY_LIMIT = 5
DEAD_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}

#: What connecting raises when nothing usable answers: refused or unresolvable (OSError),
#: the broker refusing the login or vhost (AMQPConnectionError), no answer in time.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (AMQPConnectionError, OSError, TimeoutError)


def routing_key(event_id: EventId, buckets: int) -> str:
    """The routing key of an event's commands on the bookings exchange: its virtual bucket.

    The consistent-hash exchange hashes the key onto the shard queues, so every event of a
    bucket shares a queue and one message can carry commands for all of them."""
    return str(bucket_for(event_id, buckets))


def by_routing_key(commands: Sequence[Command], buckets: int) -> dict[str, list[Command]]:
    """Commands grouped into one message per routing key, each group in the given order
    (commands of one event stay in order: they share a key)."""
    groups: dict[str, list[Command]] = {}
    for cmd in commands:
        groups.setdefault(routing_key(cmd.event_id, buckets), []).append(cmd)
    return groups


class TopologyError(Unavailable):
    """The broker lacks something the engine needs (the plugin, a queue, a leader)."""

    code = "topology_error"


@dataclass(frozen=True, slots=True)
class Names:
    """Every exchange and queue name, derived from one prefix."""

    prefix: str
    shards: int

    @property
    def bookings(self) -> str:
        """The consistent-hash exchange."""
        return f"{self.prefix}.bookings"

    @property
    def dead(self) -> str:
        """The dead-letter exchange and its queue."""
        return f"{self.prefix}.dead"

    @property
    def stock(self) -> str:
        """The stock fanout exchange."""
        return f"{self.prefix}.stock"

    @property
    def replies(self) -> str:
        """The direct exchange of outcomes, routed by reply queue name."""
        return f"{self.prefix}.replies"

    def shard(self, n: int) -> str:
        """Shard queue n."""
        return f"{self.prefix}.shard.{n:02d}"

    def all_shards(self) -> list[str]:
        """Every shard queue, in order."""
        return [self.shard(n) for n in range(self.shards)]


def shard_queue_arguments(names: Names) -> dict[str, Any]:
    """Arguments of a shard queue. A quorum queue must be re-declared with exactly these."""
    return {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,  # a standby worker takes over when one dies
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": names.dead,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
    }


async def open_topology(url: Secret, name: str,
                        names: Names) -> tuple[AbstractRobustConnection, AbstractChannel,
                                           AbstractExchange]:
    """Connect (a robust connection named `name`), declare and check the topology: the
    connection, its publisher-confirms channel and the bookings exchange.

    The start-up of both sides. `url` may name several nodes of one cluster (nodes.py):
    the first that answers is used, and a reconnect goes on to the next. A broker that
    cannot serve raises `BrokerUnreachable` or `BrokerPluginMissing`, the connection closed.
    """
    urls = split_urls(url.reveal())
    with _quiet_driver_logs():
        failures = []
        for node in urls:
            connection = NodesConnection(URL(node), nodes=urls,
                                         client_properties={"connection_name": name})
            try:
                await connection.connect()
                break
            except CONNECT_ERRORS as exc:
                await connection.close()
                where = urlsplit(node)
                failures.append(f"{where.hostname}:{where.port or 5672} "
                                f"({type(exc).__name__}: {exc})")
        else:
            raise BrokerUnreachable(
                f"RabbitMQ unreachable at {'; '.join(failures) or 'no URL in AMQP_URL'}",
                hint="Start it (make services), or point AMQP_URL at a running broker "
                "(unset AMQP_URL to use the in-process transport)")
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            bookings = await declare(channel, names)
            await check(connection, names)
        except BaseException:
            await connection.close()
            raise
    return connection, channel, bookings


@contextmanager
def _quiet_driver_logs() -> Iterator[None]:
    # aiormq and aio-pika log a refused connection or the broker closing it (errors, a
    # traceback, "reconnecting") before we can raise; the error we raise says the same in
    # one line. At DEBUG everything shows. Only start-up runs in here.
    loggers = [logging.getLogger(name) for name in ("aiormq", "aio_pika")]
    # Already quiet (another start-up in this process is in its window): leave the levels
    # to that one to restore, or it would restore ours, CRITICAL, for good.
    if any(logger.isEnabledFor(logging.DEBUG) or logger.level == logging.CRITICAL
           for logger in loggers):
        yield
        return
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def declare_bookings_exchange(channel: AbstractChannel, names: Names) -> AbstractExchange:
    """The consistent-hash exchange; `BrokerPluginMissing` when the plugin is not enabled."""
    try:
        return await channel.declare_exchange(names.bookings, "x-consistent-hash", durable=True)
    except ConnectionCommandInvalid as exc:
        # RabbitMQ answers an unknown exchange type by closing the whole connection with
        # 503 COMMAND_INVALID (aiormq's class for that code); only the reply text names
        # the type, so it is the one place we read it.
        if "x-consistent-hash" not in str(exc):
            raise
        raise BrokerPluginMissing(
            "RabbitMQ lacks the consistent-hash exchange (plugin "
            "rabbitmq_consistent_hash_exchange is not enabled)",
            hint="Enable it: rabbitmq-plugins enable rabbitmq_consistent_hash_exchange") \
            from exc


async def declare(channel: AbstractChannel, names: Names) -> AbstractExchange:
    """Declare everything (idempotent) and return the bookings exchange."""
    dead = await channel.declare_exchange(names.dead, aio_pika.ExchangeType.FANOUT,
                                          durable=True)
    dead_queue = await channel.declare_queue(names.dead, durable=True,
                                             arguments=DEAD_QUEUE_ARGUMENTS)
    await dead_queue.bind(dead)
    # Stock updates are a live view, rebuilt by the next batch: a durable exchange keeps
    # bindings across restarts, but nothing about them needs to persist.
    await channel.declare_exchange(names.stock, aio_pika.ExchangeType.FANOUT, durable=True)
    # Unroutable outcomes go on to every gateway (the broker does it: no confirm, no
    # return to handle on the worker's hot path).
    await channel.declare_exchange(names.replies, aio_pika.ExchangeType.DIRECT, durable=True,
                                   arguments={"alternate-exchange": names.stock})
    bookings = await declare_bookings_exchange(channel, names)
    arguments = shard_queue_arguments(names)
    for name in names.all_shards():
        queue = await channel.declare_queue(name, durable=True, arguments=arguments)
        # Bound once, weight "1", never unbound: re-binding the same key is a no-op.
        await queue.bind(bookings, routing_key="1")
    return bookings


async def check(connection: aio_pika.abc.AbstractConnection, names: Names) -> None:
    """Every shard queue exists and answers (a quorum queue without a leader does not)."""
    for name in names.all_shards():
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except (ChannelNotFoundEntity, AMQPChannelError) as exc:
            raise TopologyError(f"shard queue {name} is missing or has no leader: {exc}") \
                from exc
        finally:
            if not channel.is_closed:
                await channel.close()
