"""Stock broadcasts of one shard worker, at most one message per interval.

Every committed batch changes seats left, and over RabbitMQ each stock message is published
once and delivered to every gateway process. Under load spread over many events batches are
small and frequent, so stock messages were about a third of all broker messages a booking
cost (`many-events`: 0.47 published and 0.95 delivered per request, against 0.78 command
messages). Seats left are a hint — the actor decides every booking, and a gateway's view
only saves hopeless requests a hop — so they can wait a few milliseconds: the first update
after a quiet spell goes at once, and whatever arrives during the interval after it travels
in one message at its end, each event with its latest count, in the order events first
appeared (a marker put after an update arrives after it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from engine.messages import StockUpdate
from engine.types import EventId, Sleeper

log = logging.getLogger(__name__)


class StockThrottle:
    """Sends stock updates through `send`, at most one message per `interval` seconds."""

    def __init__(self, send: Callable[[list[StockUpdate]], Awaitable[None]], *,
                 interval: float, sleep: Sleeper = asyncio.sleep) -> None:
        self._send = send
        self._interval = interval
        self._sleep = sleep
        self._pending: dict[EventId, StockUpdate] = {}
        self._task: asyncio.Task[None] | None = None

    def put(self, updates: Sequence[StockUpdate]) -> None:
        """Queue these updates; the next message carries each event's latest."""
        for update in updates:
            self._pending[update.event_id] = update  # an event keeps its first place
        if self._task is None and self._pending:
            self._task = asyncio.ensure_future(self._run())

    async def idle(self) -> None:
        """Wait until everything put has been sent and the interval after it has passed."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Send what is pending now, without waiting for the interval; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._flush()

    async def _run(self) -> None:
        try:
            while self._pending:
                await self._flush()
                await self._sleep(self._interval)
        finally:
            # Checked and cleared with no await between: a put after this starts a new run.
            if self._task is asyncio.current_task():
                self._task = None

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending.values())
        self._pending.clear()
        try:
            await self._send(batch)
        except Exception:  # noqa: BLE001 - a hint lost; later broadcasts must still go
            log.exception("stock broadcast failed")
