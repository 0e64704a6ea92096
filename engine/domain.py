"""The pure decision logic: what happens to a booking or a cancellation. No I/O, no clock reads.

A shard actor keeps one `EventLedger` per event it owns and feeds it commands in mailbox
order; the same functions back the property tests that try to oversell.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from engine.errors import (
    AlreadyExtended,
    EventCancelled,
    LimitExceeded,
    NotExtendable,
    NotOnSale,
    SoldOut,
)
from engine.types import BookingId, EventId, UserId
from engine.waitlist import WaitingList


class Availability(StrEnum):
    """Where an event stands for a buyer, as listed in the API."""

    SCHEDULED = "scheduled"
    ON_SALE = "on_sale"
    SOLD_OUT = "sold_out"
    #: The organizer cancelled it: every booking void (and refunded), nothing on sale.
    CANCELLED = "cancelled"


def availability(capacity: int, sold: int, sale_starts_at: datetime | None,
                 now: datetime, *, cancelled: bool = False) -> Availability:
    """The listed status of an event at `now`."""
    if cancelled:
        return Availability.CANCELLED
    if sale_starts_at is not None and now < sale_starts_at:
        return Availability.SCHEDULED
    if sold >= capacity:
        return Availability.SOLD_OUT
    return Availability.ON_SALE


#: How long before a hold's deadline its buyer is warned, and may extend it (once); a hold
#: shorter than twice this is warned halfway instead (`warn_lead`).
WARN_BEFORE = timedelta(seconds=60)
#: An extension adds the event's holdSeconds, but never more than this.
MAX_EXTENSION = timedelta(minutes=10)


def warn_lead(hold_seconds: int) -> timedelta:
    """How long before its deadline a hold of an event with this holdSeconds is warned: a
    minute, or half the hold when that is less — so a short hold (10 s at least) is warned
    while there is still time to act, neither as it is taken nor never."""
    return min(WARN_BEFORE, timedelta(seconds=hold_seconds) / 2)


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
    #: The buyer was warned that this deadline is near (WCAG 2.2.1), and has extended it.
    warned: bool = False
    extended: bool = False
    #: How long before the deadline its buyer is warned (`warn_lead` of the event's
    #: holdSeconds when it was taken or loaded; an extension keeps it).
    warn_before: timedelta = WARN_BEFORE

    @property
    def warn_at(self) -> datetime:
        """When its buyer is warned: `warn_before` ahead of the deadline."""
        return self.expires_at - self.warn_before


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
    #: Until when a buyer may cancel a confirmed paid booking for a refund (None: never).
    refundable_until: datetime | None = None
    #: The organizer cancelled the event: it refuses everything from then on.
    cancelled: bool = False
    #: Bookings taken (confirmed, or held for payment) since this ledger was loaded: the
    #: organizer's bookings-per-second chart counts its rise. Not stored; a reload starts it
    #: again at 0 under a new `epoch`, which is how a reader tells a restart from a fall.
    booked: int = 0

    @property
    def available(self) -> int:
        """Seats still for sale: neither sold nor held (none once the event is cancelled)."""
        return 0 if self.cancelled else self.capacity - self.sold - self.on_hold

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

    Order matters and is stable: a cancelled event beats everything, a sale that has not
    started beats sold out, which beats the per-user limit (a buyer over the limit on a
    sold-out event hears "sold out").
    """
    if ledger.cancelled:
        return EventCancelled.code
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


def refundable(ledger: EventLedger, now: datetime) -> bool:
    """Whether a buyer cancelling a confirmed paid booking at `now` is still refunded: the
    window runs up to `refundable_until`, exclusive."""
    return ledger.refundable_until is not None and now < ledger.refundable_until


def cancel_event(ledger: EventLedger) -> tuple[int, list[Hold]]:
    """The organizer cancels the event: every seat sold goes, every hold and waiting entry
    with it, the waiting list closes. Returns the seats that were sold and the holds that
    were open (their outcomes are pushed to their buyers)."""
    sold, holds = ledger.sold, list(ledger.holds.values())
    ledger.sold = ledger.on_hold = 0
    ledger.holds.clear()
    ledger.held.clear()
    ledger.waitlist = WaitingList()
    ledger.waitlist_open = False
    ledger.cancelled = True
    return sold, holds


def hold(ledger: EventLedger, booking_id: BookingId, user_id: UserId, quantity: int,
         now: datetime, *, offer: bool = False) -> Hold:
    """Take seats decided by `decide_booking` (or offered to a waiting buyer) out of sale
    until paid or expired."""
    taken = Hold(booking_id, user_id, quantity, now + timedelta(seconds=ledger.hold_seconds),
                 ledger.price_cents * quantity, offer,
                 warn_before=warn_lead(ledger.hold_seconds))
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


def due_warnings(ledger: EventLedger, now: datetime) -> list[Hold]:
    """The open holds whose buyer is to be warned now (once per deadline), earliest first."""
    return sorted((h for h in ledger.holds.values()
                   if not h.warned and h.warn_at <= now < h.expires_at),
                  key=lambda h: (h.expires_at, str(h.booking_id)))


def warn(ledger: EventLedger, booking_id: BookingId) -> Hold:
    """Record that a hold's buyer was warned of its deadline."""
    warned = ledger.holds[booking_id] = replace(ledger.holds[booking_id], warned=True)
    return warned


def decide_extension(ledger: EventLedger, booking_id: BookingId, user_id: UserId,
                     now: datetime) -> str | None:
    """Why this hold cannot be extended now, or None: it must be open (by `now`) and the
    caller's, and extended never before."""
    held = ledger.holds.get(booking_id)
    if held is None or held.user_id != user_id or held.expires_at <= now:
        return NotExtendable.code
    if held.extended:
        return AlreadyExtended.code
    return None


def extend(ledger: EventLedger, booking_id: BookingId) -> Hold:
    """Give a hold decided by `decide_extension` more time: the event's holdSeconds, capped
    at MAX_EXTENSION, from its current deadline; it is warned again before the new one."""
    held = ledger.holds[booking_id]
    more = min(timedelta(seconds=ledger.hold_seconds), MAX_EXTENSION)
    longer = ledger.holds[booking_id] = replace(held, expires_at=held.expires_at + more,
                                                warned=False, extended=True)
    return longer


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
