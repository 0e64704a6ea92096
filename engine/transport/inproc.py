"""The in-process transport: asyncio mailboxes instead of RabbitMQ, same hashing onto shards.

Both sides live here: the gateway sends through it, and the actors answer through it (it is
their `Outlet`). A crash of the process loses undecided commands, so it is for embedded
mode and tests; production uses RabbitMQ, whose queues survive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.messages import Command, Outcome, StockUpdate
from engine.transport.base import Envelope, OutcomeHandler, StockHandler, shard_for
from engine.types import BookingStatus

if TYPE_CHECKING:
    from engine.runtime import ShardRuntime
    from engine.settings import Settings


class InprocTransport:
    """Transport and Outlet over a `ShardRuntime` in this process."""

    reply_to = "inproc"

    def __init__(self, settings: Settings, runtime: ShardRuntime | None, *,
                 metrics: object = None) -> None:
        if runtime is None:
            raise ValueError("the in-process transport needs the shard runtime")
        self._runtime = runtime
        self._shards = settings.shards
        self._outcome_handlers: list[OutcomeHandler] = []
        self._stock_handlers: list[StockHandler] = []

    # -- Transport (gateway side) --------------------------------------------------------

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def send(self, commands: Sequence[Command]) -> None:
        """Put the commands in their shard's mailbox (one envelope: they share an event)."""
        shard = shard_for(commands[0].event_id, self._shards)
        self._runtime.submit(shard, Envelope(list(commands)))

    def on_outcome(self, handler: OutcomeHandler) -> None:
        """Register an outcome callback."""
        self._outcome_handlers.append(handler)

    def on_stock(self, handler: StockHandler) -> None:
        """Register a stock callback."""
        self._stock_handlers.append(handler)

    async def healthy(self) -> bool:
        """Healthy while no actor has died."""
        return not self._runtime.failed.is_set()

    # -- Outlet (actor side) -------------------------------------------------------------

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        """Nothing to acknowledge in-process."""

    async def send_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Hand outcomes straight to the gateway's handlers."""
        for outcome in outcomes:
            for handler in self._outcome_handlers:
                handler(outcome)

    async def send_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Hand stock updates straight to the gateway's handlers."""
        for handler in self._stock_handlers:
            handler(updates)

    async def dead_letter(self, envelope: Envelope) -> None:
        """In-process there is no dead-letter queue: answer each command as rejected."""
        await self.send_outcomes([
            Outcome(c.booking_id, c.event_id, c.user_id, BookingStatus.REJECTED,
                    getattr(c, "quantity", 0), "undeliverable", (), c.reply_to)
            for c in envelope.commands])

    async def forward(self, commands: Sequence[Command]) -> None:
        """Re-submit commands to the shard their event hashes to."""
        by_event: dict[int, list[Command]] = defaultdict(list)
        for cmd in commands:
            by_event[cmd.event_id].append(cmd)
        for group in by_event.values():
            await self.send(group)
