"""The in-process transport: asyncio mailboxes instead of RabbitMQ, same hashing onto shards.

Both halves live here: the gateway sends through it, and the shard actors it runs behind it
answer through it (it is their `Outlet`). A crash of the process loses undecided commands, so
it is for embedded mode and tests; production uses RabbitMQ, whose queues survive.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from engine.errors import ShutdownIncomplete, Unavailable
from engine.messages import Command, Outcome, RoomUpdate, StockUpdate
from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.runtime import ShardRuntime, ShardStore
from engine.settings import Settings
from engine.transport.base import Envelope, shard_for
from engine.types import Clock, Sleeper, utcnow


def create(settings: Settings, notifications: Notifications, *, metrics: Metrics,
           store: ShardStore | None, clock: Clock = utcnow,
           sleeper: Sleeper = asyncio.sleep) -> InprocTransport:
    """The registry's factory: shard actors in this process, writing through `store`, their
    hold deadlines on `clock`."""
    if store is None:
        raise ValueError("the in-process transport runs the shard actors: it needs a store")
    runtime = ShardRuntime(store, shards=settings.shards, max_batch=settings.max_batch,
                           metrics=metrics, clock=clock, sleeper=sleeper)
    return InprocTransport(runtime, notifications, backlog=settings.shard_backlog,
                           shutdown_deadline=settings.shutdown_deadline_seconds)


class InprocTransport:
    """Transport and Outlet over a `ShardRuntime` in this process."""

    reply_to = "inproc"

    def __init__(self, runtime: ShardRuntime, notifications: Notifications, *,
                 backlog: int = 20000, shutdown_deadline: float = 30.0) -> None:
        self.runtime = runtime
        self._notifications = notifications
        self._backlog = backlog
        self._deadline = shutdown_deadline
        self._stopped = False

    # -- Transport (gateway side) --------------------------------------------------------

    async def start(self) -> None:
        """Start the shard actors, answering through this transport."""
        await self.runtime.start(self)
        await self.runtime.wake_holds()

    async def stop(self) -> None:
        """Decide everything already accepted, then stop the actors; idempotent. Bounded:
        past the shutdown deadline what is left is abandoned and `ShutdownIncomplete` says so
        (in-process, such commands are lost with the process, as they would be on a crash)."""
        if self._stopped:
            return
        self._stopped = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deadline
        try:
            await asyncio.wait_for(self.runtime.drain(), self._deadline)
            drained = True
        except TimeoutError:
            drained = False
        stopped = await self.runtime.stop(max(0.0, deadline - loop.time()))
        if not (drained and stopped):
            raise ShutdownIncomplete(
                f"shard actors did not finish within {self._deadline:.0f}s; work abandoned")

    async def drain(self) -> None:
        """Barrier: every mailbox empty, every batch committed and answered."""
        await self.runtime.drain()

    async def send(self, commands: Sequence[Command]) -> None:
        """Put the commands in their shard's mailbox (one envelope: they share an event);
        `Unavailable` when that mailbox is full, so a flood waits at the door, not in memory."""
        if self.runtime.failed.is_set():
            raise Unavailable("the shard actors keep failing", retry_after=5)
        shard = shard_for(commands[0].event_id, self.runtime.shards)
        if self.runtime.backlog(shard) >= self._backlog:
            raise Unavailable(f"shard {shard} has {self._backlog} commands waiting",
                              retry_after=1)
        self.runtime.submit(shard, Envelope(list(commands)))

    async def broadcast_stock(self, updates: Sequence[StockUpdate]) -> None:
        """One process, one gateway: tell it directly."""
        self._notifications.stock(updates)

    def relay(self, outcomes: Sequence[Outcome]) -> None:
        """One process: no other gateway to tell."""

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

    async def send_rooms(self, updates: Sequence[RoomUpdate]) -> None:
        """Hand waiting-room changes straight to the gateway's handlers."""
        self._notifications.rooms(updates)

    async def dead_letter(self, envelope: Envelope) -> None:
        """In-process there is no dead-letter queue: record each command as rejected at
        once (so it is readable later, never pending forever) and answer it."""
        await self.send_outcomes(await self.runtime.store.dead_lettered(envelope.commands))

    async def forward(self, commands: Sequence[Command]) -> None:
        """Re-submit commands to the shard their event hashes to."""
        by_event: dict[int, list[Command]] = defaultdict(list)
        for cmd in commands:
            by_event[cmd.event_id].append(cmd)
        for event_id, group in by_event.items():
            # Already accepted once: never shed, whatever the backlog.
            self.runtime.submit(shard_for(event_id, self.runtime.shards), Envelope(group))
