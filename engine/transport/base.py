"""The transport contracts: `Transport` on the gateway side, `Outlet` on the shard side."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.messages import Command, Outcome, RoomUpdate, StockUpdate
from engine.types import EventId


def shard_for(event_id: EventId, shards: int) -> int:
    """The shard an event hashes to in-process (RabbitMQ's exchange hashes on its own)."""
    return zlib.crc32(str(event_id).encode()) % shards


def bucket_for(event_id: EventId, buckets: int) -> int:
    """The virtual bucket an event belongs to on RabbitMQ: its routing key, and the unit the
    gateway coalesces by. Stable across processes and restarts (crc32, not `hash()`), so all
    commands of one event take one key, hence one shard queue, in the order published."""
    return zlib.crc32(str(event_id).encode()) % buckets


@dataclass(slots=True)
class Envelope:
    """Commands as delivered to an actor, with what is needed to acknowledge them."""

    commands: list[Command]
    #: Transport-specific handle for acking (over RabbitMQ a `Delivery`: one message, whose
    #: commands an actor may split over several envelopes sharing the token); None in-process.
    token: object = None
    #: True when the broker may have delivered this before: the actor checks the DB first.
    redelivered: bool = False


class Transport(Protocol):
    """Gateway side: send commands; outcomes and stock updates go to the `Notifications`
    the transport was built with."""

    #: Where this gateway's outcomes are addressed (`reply_to` of its commands).
    reply_to: str

    async def start(self) -> None:
        """Connect, declare what is needed, begin receiving outcomes."""

    async def stop(self) -> None:
        """Stop receiving and close; idempotent."""

    async def send(self, commands: Sequence[Command]) -> None:
        """Hand commands (all for one event) over durably; a transport may carry them in one
        message with other events' commands, but never out of order within their event.

        Returns only once the commands will be decided even if this process dies now. Raises
        `Unavailable` when they were certainly not kept (safe to answer "not done"), and
        `DeliveryUncertain` when they may have been (the caller must not say "failed").
        """

    async def broadcast_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Tell every gateway (this one too) of seats left learned outside a shard's batch —
        an organizer's edit. A hint like every stock update: lost, nothing breaks."""

    def relay(self, outcomes: Sequence[Outcome]) -> None:
        """Hand booking updates no request here took as its answer (a decision after a
        `202`, an expiry, an offer, a payment's late word) to every *other* gateway process,
        for their owners' streams: the outcome comes back only to the process that sent the
        command, and the owner's stream may be open on another. A hint, sent in the
        background: lost, the page's poll of the booking finds it."""

    async def healthy(self) -> bool:
        """Whether commands can be sent right now."""


class Outlet(Protocol):
    """Shard side: what an actor does with a committed batch."""

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        """Acknowledge delivered envelopes; called only after their batch committed.

        An envelope may hold part of a delivered one (same token, some of the very command
        objects delivered): the delivery is settled once every one of its commands was acked
        or dead-lettered. Acking a command again is harmless; deliveries of one queue must be
        settled in the order delivered."""

    async def send_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Deliver outcomes to the gateways named by their `reply_to`."""

    async def send_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Broadcast seats left to every gateway."""

    async def send_rooms(self, updates: Sequence[RoomUpdate]) -> None:
        """Broadcast waiting-room changes to every gateway (each in order, none merged)."""

    async def forward(self, commands: Sequence[Command]) -> None:
        """Re-route commands of events this actor lost ownership of, to their current owner."""

    async def dead_letter(self, envelope: Envelope) -> None:
        """Give up on an envelope's commands (all of a delivery, or part of one, see `ack`):
        each is recorded and answered as rejected; the rest of its delivery is unaffected."""
