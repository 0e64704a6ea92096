"""The pure decision logic: what happens to a booking or a cancellation. No I/O, no clock reads.

A shard actor keeps one `EventLedger` per event it owns and feeds it commands in mailbox
order; the same functions back the property tests that try to oversell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from engine.errors import LimitExceeded, NotOnSale, SoldOut
from engine.types import BookingId, EventId, UserId
from engine.waitlist import WaitingList


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


@dataclass(frozen=True, slots=True)
class Hold:
    """Seats of a paid event taken out of sale for one booking until paid or `expires_at`."""

    booking_id: BookingId
    user_id: UserId
    quantity: int
    expires_at: datetime
    amount_cents: int
    #: Seats offered to a waiting-list entry (the booking's id is the entry's).
    offer: bool = False


@dataclass(slots=True)
class EventLedger:
    """An owned event's stock, open holds and per-user counts, as the owning actor sees them."""

    event_id: EventId
    capacity: int
    sold: int
    per_user_limit: int | None
    sale_starts_at: datetime | None
    epoch: int
    #: Seats per user that count against the per-user limit: confirmed and held.
    held: dict[UserId, int] = field(default_factory=dict)
    #: (user, Idempotency-Key) -> the booking it is pinned to, for this event's bookings.
    keys: dict[tuple[UserId, str], KeyPin] = field(default_factory=dict)
    #: Price per seat in the currency's minor unit; above 0 a booking is held until paid.
    price_cents: int = 0
    currency: str = "EUR"
    hold_seconds: int = 600
    #: Open holds by booking id.
    holds: dict[BookingId, Hold] = field(default_factory=dict)
    #: Seats in open holds (the sum over `holds`, kept as a counter like `sold`).
    on_hold: int = 0
    #: Buyers waiting for returned seats (`engine.waitlist_rules` decides joins and offers).
    waitlist: WaitingList = field(default_factory=WaitingList)
    #: Whether buyers may join the waiting list (entries already in it are still served).
    waitlist_open: bool = True
    #: Bookings taken (confirmed, or held for payment) since this ledger was loaded: the
    #: organizer's bookings-per-second chart counts its rise. Not stored; a reload starts it
    #: again at 0 under a new `epoch`, which is how a reader tells a restart from a fall.
    booked: int = 0

    @property
    def available(self) -> int:
        """Seats still for sale: neither sold nor held."""
        return self.capacity - self.sold - self.on_hold

    @property
    def paid(self) -> bool:
        """Whether a booking is held until paid rather than confirmed at once."""
        return self.price_cents > 0

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
    ledger.booked += 1
    ledger.held[user_id] = ledger.held.get(user_id, 0) + quantity


def release(ledger: EventLedger, user_id: UserId, quantity: int) -> None:
    """Give a cancelled booking's seats back to sale."""
    ledger.sold -= quantity
    _untake(ledger, user_id, quantity)


def uncount(ledger: EventLedger, user_id: UserId, quantity: int) -> None:
    """Seats that no longer count against the user's per-user limit."""
    _untake(ledger, user_id, quantity)


def _untake(ledger: EventLedger, user_id: UserId, quantity: int) -> None:
    left = ledger.held.get(user_id, 0) - quantity
    if left > 0:
        ledger.held[user_id] = left
    else:
        ledger.held.pop(user_id, None)


def hold(ledger: EventLedger, booking_id: BookingId, user_id: UserId, quantity: int,
         now: datetime, *, offer: bool = False) -> Hold:
    """Take seats decided by `decide_booking` (or offered to a waiting buyer) out of sale
    until paid or expired."""
    taken = Hold(booking_id, user_id, quantity, now + timedelta(seconds=ledger.hold_seconds),
                 ledger.price_cents * quantity, offer)
    ledger.holds[booking_id] = taken
    ledger.on_hold += quantity
    if not offer:  # an offer is the engine's move, not a buyer's booking
        ledger.booked += 1
    ledger.held[user_id] = ledger.held.get(user_id, 0) + quantity
    return taken


def settle(ledger: EventLedger, booking_id: BookingId) -> Hold:
    """A hold is paid: its seats are sold (they stay the buyer's under the limit)."""
    paid = ledger.holds.pop(booking_id)
    ledger.on_hold -= paid.quantity
    ledger.sold += paid.quantity
    return paid


def drop_hold(ledger: EventLedger, booking_id: BookingId) -> Hold:
    """A hold expired or was cancelled: its seats go back on sale."""
    dropped = ledger.holds.pop(booking_id)
    ledger.on_hold -= dropped.quantity
    _untake(ledger, dropped.user_id, dropped.quantity)
    return dropped


def due_holds(ledger: EventLedger, now: datetime) -> list[Hold]:
    """The open holds whose deadline has come, earliest first."""
    return sorted((h for h in ledger.holds.values() if h.expires_at <= now),
                  key=lambda h: (h.expires_at, str(h.booking_id)))


def book(ledger: EventLedger, user_id: UserId, quantity: int, now: datetime) -> str | None:
    """Decide and, if confirmed, apply. Returns the rejection reason or None."""
    reason = decide_booking(ledger, user_id, quantity, now)
    if reason is None:
        confirm(ledger, user_id, quantity)
    return reason
