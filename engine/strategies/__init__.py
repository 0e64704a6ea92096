"""Booking strategies, picked by name: `queued` (shard actors), `locked`, `naive`.

All three serve the same API so a surge scenario can compare them side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.messages import Outcome
from engine.types import BookingId, EventId, UserId


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """A validated request to book seats."""

    user_id: UserId
    event_id: EventId
    quantity: int
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """Accepted, decision not yet known: answered 202 with a Location to poll."""

    booking_id: BookingId
    event_id: EventId
    quantity: int


class Booker(Protocol):
    """One strategy's way of deciding bookings and cancellations."""

    async def book(self, request: BookingRequest) -> Outcome | Pending:
        """Decide (or accept) a booking."""

    async def cancel(self, user_id: UserId, booking_id: BookingId) -> Outcome | Pending:
        """Cancel a confirmed booking of `user_id`; its seats go back on sale."""

    async def stop(self) -> None:
        """Finish or abandon background work (shutdown); idempotent."""


STRATEGIES = {
    "queued": "engine.strategies.queued:QueuedBooker",
    "locked": "engine.strategies.locked:LockedBooker",
    "naive": "engine.strategies.naive:NaiveBooker",
}

__all__ = ["STRATEGIES", "Booker", "BookingRequest", "Pending"]
