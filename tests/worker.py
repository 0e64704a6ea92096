"""A shard worker inside the test process: the same actors and consumer `python -m shards`
runs, so tests can drain it as a barrier."""

from __future__ import annotations

from collections.abc import Callable

import aio_pika
import asyncpg

from engine.messages import StockUpdate
from engine.metrics import Metrics
from engine.runtime import ShardRuntime
from engine.settings import Settings
from engine.storage import create_pool
from engine.storage.shard_store import PgShardStore
from engine.transport.amqp import AmqpShardConsumer, Names
from tests.clock import CLOCK


class ShardWorker:
    """Runtime + consumer on their own pool and connection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.runtime: ShardRuntime | None = None
        self.consumer: AmqpShardConsumer | None = None
        #: The worker's own metrics, as `python -m shards` serves them on its port.
        self.metrics = Metrics()
        self._marks = 0

    async def start(self) -> None:
        """Start consuming."""
        self.pool = await create_pool(self.settings)
        pool = self.pool
        # On the session's clock, which hold tests move (tests/clock.py).
        self.runtime = ShardRuntime(PgShardStore(pool), shards=self.settings.shards,
                                    max_batch=self.settings.max_batch, metrics=self.metrics,
                                    clock=CLOCK.now, sleeper=CLOCK.sleep)
        self.consumer = AmqpShardConsumer(self.settings, self.runtime.submit, self.runtime.store,
                                          metrics=self.metrics)
        await self.runtime.start(self.consumer)
        await self.consumer.start()
        await self.runtime.wake_holds()

    async def drain(self) -> None:
        """Every mailbox empty, every batch committed, acked and answered."""
        assert self.runtime is not None
        await self.runtime.drain()

    async def stock_mark_for(self, register: Callable[[StockUpdate], None]) -> StockUpdate:
        """Send a marker down the stock fanout after everything this worker sent before it
        (`register` sees it first); a gateway that has seen the marker has seen every
        earlier stock update."""
        assert self.consumer is not None
        self._marks += 1
        mark = StockUpdate(-self._marks, self._marks)
        register(mark)
        await self.consumer.send_stock([mark])
        return mark

    async def stop(self) -> None:
        """Stop in order: intake, batches in flight, connection, pool."""
        if self.consumer is not None:
            await self.consumer.stop_consuming()
        if self.runtime is not None:
            await self.runtime.stop()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.pool is not None:
            await self.pool.close()


async def delete_namespace(url: str, prefix: str, shards: int) -> None:
    """Remove a test session's exchanges and queues from the broker."""
    names = Names(prefix, shards)
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for queue in [*names.all_shards(), names.dead]:
            await channel.queue_delete(queue)
        for exchange in (names.bookings, names.dead, names.stock):
            await channel.exchange_delete(exchange)
