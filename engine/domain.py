"""The pure decision logic: what happens to a booking or a cancellation. No I/O, no clock reads.

A shard actor keeps one `EventLedger` per event it owns and feeds it commands in mailbox
order; the same functions back the property tests that try to oversell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from engine.errors import LimitExceeded, NotOnSale, SoldOut
from engine.types import BookingId, EventId, UserId


class Availability(StrEnum):
    """Where an event stands for a buyer, as listed in the API."""

    SCHEDULED = "scheduled"
    ON_SALE = "on_sale"
    SOLD_OUT = "sold_out"


def availability(capacity: int, sold: int, sale_starts_at: datetime | None,
                 now: datetime) -> Availability:
    """The listed status of an event at `now`."""
    if sale_starts_at is not None and now < sale_starts_at:
        return Availability.SCHEDULED
    if sold >= capacity:
        return Availability.SOLD_OUT
    return Availability.ON_SALE


@dataclass(frozen=True, slots=True)
class KeyPin:
    """The request a user's Idempotency-Key was first used for: a replay must match it."""

    booking_id: BookingId
    event_id: EventId
    quantity: int


@dataclass(slots=True)
class EventLedger:
    """An owned event's stock and per-user confirmed counts, as the owning actor sees them."""

    event_id: EventId
    capacity: int
    sold: int
    per_user_limit: int | None
    sale_starts_at: datetime | None
    epoch: int
    held: dict[UserId, int] = field(default_factory=dict)
    #: (user, Idempotency-Key) -> the booking it is pinned to, for this event's bookings.
    keys: dict[tuple[UserId, str], KeyPin] = field(default_factory=dict)

    @property
    def available(self) -> int:
        """Seats still for sale."""
        return self.capacity - self.sold

    def on_sale(self, now: datetime) -> bool:
        """Whether bookings are accepted at `now`."""
        return self.sale_starts_at is None or now >= self.sale_starts_at


def decide_booking(ledger: EventLedger, user_id: UserId, quantity: int,
                   now: datetime) -> str | None:
    """The rejection reason for this booking, or None if it may be confirmed.

    Order matters and is stable: a sale that has not started beats sold out, which beats
    the per-user limit (a buyer over the limit on a sold-out event hears "sold out").
    """
    if not ledger.on_sale(now):
        return NotOnSale.code
    if quantity > ledger.available:
        return SoldOut.code
    if ledger.per_user_limit is not None:
        if ledger.held.get(user_id, 0) + quantity > ledger.per_user_limit:
            return LimitExceeded.code
    return None


def confirm(ledger: EventLedger, user_id: UserId, quantity: int) -> None:
    """Record a confirmed booking decided by `decide_booking`."""
    ledger.sold += quantity
    ledger.held[user_id] = ledger.held.get(user_id, 0) + quantity


def release(ledger: EventLedger, user_id: UserId, quantity: int) -> None:
    """Give a cancelled booking's seats back to sale."""
    ledger.sold -= quantity
    left = ledger.held.get(user_id, 0) - quantity
    if left > 0:
        ledger.held[user_id] = left
    else:
        ledger.held.pop(user_id, None)


def book(ledger: EventLedger, user_id: UserId, quantity: int, now: datetime) -> str | None:
    """Decide and, if confirmed, apply. Returns the rejection reason or None."""
    reason = decide_booking(ledger, user_id, quantity, now)
    if reason is None:
        confirm(ledger, user_id, quantity)
    return reason
