"""The in-process transport: asyncio mailboxes instead of RabbitMQ, same hashing onto shards.

Both halves live here: the gateway sends through it, and the shard actors it runs behind it
answer through it (it is their `Outlet`). A crash of the process loses undecided commands, so
it is for embedded mode and tests; production uses RabbitMQ, whose queues survive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from engine.errors import DeadLettered, Unavailable
from engine.messages import Command, Outcome, StockUpdate
from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.runtime import ShardRuntime, ShardStore
from engine.settings import Settings
from engine.transport.base import Envelope, shard_for
from engine.types import BookingStatus


def create(settings: Settings, notifications: Notifications, *, metrics: Metrics,
           store: ShardStore | None) -> InprocTransport:
    """The registry's factory: shard actors in this process, writing through `store`."""
    if store is None:
        raise ValueError("the in-process transport runs the shard actors: it needs a store")
    runtime = ShardRuntime(store, shards=settings.shards, max_batch=settings.max_batch,
                           metrics=metrics)
    return InprocTransport(runtime, notifications, backlog=settings.shard_backlog)


class InprocTransport:
    """Transport and Outlet over a `ShardRuntime` in this process."""

    reply_to = "inproc"

    def __init__(self, runtime: ShardRuntime, notifications: Notifications, *,
                 backlog: int = 20000) -> None:
        self.runtime = runtime
        self._notifications = notifications
        self._backlog = backlog

    # -- Transport (gateway side) --------------------------------------------------------

    async def start(self) -> None:
        """Start the shard actors, answering through this transport."""
        await self.runtime.start(self)

    async def stop(self) -> None:
        """Decide everything already accepted, then stop the actors; idempotent."""
        await self.runtime.drain()
        await self.runtime.stop()

    async def drain(self) -> None:
        """Barrier: every mailbox empty, every batch committed and answered."""
        await self.runtime.drain()

    async def send(self, commands: Sequence[Command]) -> None:
        """Put the commands in their shard's mailbox (one envelope: they share an event);
        `Unavailable` when that mailbox is full, so a flood waits at the door, not in memory."""
        shard = shard_for(commands[0].event_id, self.runtime.shards)
        if self.runtime.backlog(shard) >= self._backlog:
            raise Unavailable(f"shard {shard} has {self._backlog} commands waiting",
                              retry_after=1)
        self.runtime.submit(shard, Envelope(list(commands)))

    async def healthy(self) -> bool:
        """Healthy while no actor has died."""
        return not self.runtime.failed.is_set()

    # -- Outlet (actor side) -------------------------------------------------------------

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        """Nothing to acknowledge in-process."""

    async def send_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Hand outcomes straight to the gateway's handlers."""
        for outcome in outcomes:
            self._notifications.outcome(outcome)

    async def send_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Hand stock updates straight to the gateway's handlers."""
        self._notifications.stock(updates)

    async def dead_letter(self, envelope: Envelope) -> None:
        """In-process there is no dead-letter queue: answer each command as rejected."""
        await self.send_outcomes([
            Outcome(c.booking_id, c.event_id, c.user_id, BookingStatus.REJECTED,
                    getattr(c, "quantity", 0), DeadLettered.code, (), c.reply_to)
            for c in envelope.commands])

    async def forward(self, commands: Sequence[Command]) -> None:
        """Re-submit commands to the shard their event hashes to."""
        by_event: dict[int, list[Command]] = defaultdict(list)
        for cmd in commands:
            by_event[cmd.event_id].append(cmd)
        for event_id, group in by_event.items():
            # Already accepted once: never shed, whatever the backlog.
            self.runtime.submit(shard_for(event_id, self.runtime.shards), Envelope(group))
