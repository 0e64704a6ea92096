"""The waiting list's decisions: who may join, leaving, and offering returned seats. Pure: no
I/O, the clock passed in, state in the actor's `EventLedger`.

The rules (docs/design.md, "Waiting list"):

- A buyer joins only when a booking of the same quantity would be refused as sold out, the
  sale has started, and the event's waiting list is open; waiting seats count against the
  per-user limit like held ones, so an offer can never take the buyer past it.
- Whenever seats return, they are offered before anyone else may book them: to the first
  entry whose quantity fits the seats left, again and again while one fits. A larger entry
  keeps its place for a later return.
- An offer is a hold (`Hold.offer`) whose booking id is the entry's id, with the event's
  `holdSeconds`; it ends like any hold, and its seats, if not bought, are offered on.
"""

from __future__ import annotations

from datetime import datetime

from engine import domain
from engine.domain import EventLedger, Hold
from engine.errors import LimitExceeded, NotOnSale, NotSoldOut, WaitlistClosed
from engine.types import BookingId, UserId
from engine.waitlist import Entry


def decide_join(ledger: EventLedger, user_id: UserId, quantity: int,
                now: datetime) -> str | None:
    """The refusal reason for this join, or None if the buyer may wait.

    Order: closed beats not on sale, which beats seats on sale, which beats the limit.
    """
    if not ledger.waitlist_open:
        return WaitlistClosed.code
    if not ledger.on_sale(now):
        return NotOnSale.code
    if quantity <= ledger.available:
        return NotSoldOut.code
    if ledger.per_user_limit is not None:
        if ledger.held.get(user_id, 0) + quantity > ledger.per_user_limit:
            return LimitExceeded.code
    return None


def join(ledger: EventLedger, entry_id: BookingId, user_id: UserId, quantity: int) -> Entry:
    """Add a join decided by `decide_join` at the end of the list."""
    entry = Entry(entry_id, user_id, quantity, ledger.waitlist.last_seq + 1)
    ledger.waitlist.add(entry)
    ledger.held[user_id] = ledger.held.get(user_id, 0) + quantity
    return entry


def leave(ledger: EventLedger, user_id: UserId) -> Entry | None:
    """Take the buyer off the list; None if not waiting."""
    entry = ledger.waitlist.remove(user_id)
    if entry is not None:
        domain.uncount(ledger, user_id, entry.quantity)
    return entry


def open_offer(ledger: EventLedger, user_id: UserId) -> Hold | None:
    """The buyer's open offer on this event, if any (one entry per buyer: a join answers
    it instead of adding a second)."""
    return next((h for h in ledger.holds.values() if h.offer and h.user_id == user_id), None)


def offer_returned(ledger: EventLedger, now: datetime) -> list[Hold]:
    """Offer the seats on sale to the list, first fit first; the offers made, in order."""
    offers: list[Hold] = []
    while ledger.available > 0:
        entry = ledger.waitlist.first_fit(ledger.available)
        if entry is None:
            break
        ledger.waitlist.remove(entry.user_id)
        # Its seats counted against the limit while waiting: they count as held now.
        domain.uncount(ledger, entry.user_id, entry.quantity)
        offers.append(domain.hold(ledger, entry.id, entry.user_id, entry.quantity, now,
                                  offer=True))
    return offers
