"""The door of one event: its tickets as check-in sees them, and the pure decisions on them.

A shard actor loads an event's door once, when a check-in (or a cancel that must know
whether a ticket was used) first needs it, and keeps it current from its own decisions:
tickets issued, tickets voided, tickets checked in. No I/O here; the clock is passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from engine.errors import AlreadyCheckedIn, TicketVoid, UnknownTicket
from engine.messages import TicketInfo
from engine.types import BookingId


@dataclass(slots=True)
class DoorTicket:
    """One ticket of the event, with its state at the door."""

    id: uuid.UUID
    code: str
    booking_id: BookingId
    void: bool = False
    checked_in_at: datetime | None = None
    #: The check-in command that checked it in (a redelivery of it is no second check-in).
    checkin_id: uuid.UUID | None = None

    @property
    def info(self) -> TicketInfo:
        """The ticket as answers show it."""
        return TicketInfo(self.id, self.code, self.void)


@dataclass(frozen=True, slots=True)
class Admission:
    """A check-in decided: `reason` None means this attempt checked the ticket in; `new`
    that it did so just now (not a redelivery of it), so it is to be written."""

    ticket: DoorTicket | None
    reason: str | None
    checked_in_at: datetime | None
    new: bool = False


@dataclass(slots=True)
class Door:
    """An event's tickets by code, and which bookings have a ticket checked in."""

    tickets: dict[str, DoorTicket] = field(default_factory=dict)
    by_booking: dict[BookingId, list[DoorTicket]] = field(default_factory=dict)

    @classmethod
    def of(cls, tickets: Iterable[DoorTicket]) -> Door:
        """A door holding these tickets."""
        door = cls()
        for ticket in tickets:
            door.add(ticket)
        return door

    def add(self, ticket: DoorTicket) -> None:
        """Hold this ticket (as loaded, or just issued)."""
        self.tickets[ticket.code] = ticket
        self.by_booking.setdefault(ticket.booking_id, []).append(ticket)

    def issued(self, booking_id: BookingId, tickets: Iterable[TicketInfo]) -> None:
        """A booking was confirmed with these tickets."""
        for t in tickets:
            self.add(DoorTicket(t.id, t.code, booking_id, t.void))

    def used(self, booking_id: BookingId) -> bool:
        """Whether a ticket of this booking was checked in (then it cannot be cancelled)."""
        return any(t.checked_in_at is not None for t in self.by_booking.get(booking_id, ()))

    def voided(self, booking_id: BookingId) -> None:
        """A booking was cancelled: its tickets stay on record, void."""
        for ticket in self.by_booking.get(booking_id, ()):
            ticket.void = True


def check_in(door: Door, code: str, checkin_id: uuid.UUID, now: datetime) -> Admission:
    """Check the ticket with this code in, once. A ticket already checked in by this very
    attempt (a redelivery) is answered as checked in, with the first time."""
    ticket = door.tickets.get(code)
    if ticket is None:
        return Admission(None, UnknownTicket.code, None)
    if ticket.checked_in_at is not None:
        if ticket.checkin_id == checkin_id:
            return Admission(ticket, None, ticket.checked_in_at)
        return Admission(ticket, AlreadyCheckedIn.code, ticket.checked_in_at)
    if ticket.void:
        return Admission(ticket, TicketVoid.code, None)
    ticket.checked_in_at, ticket.checkin_id = now, checkin_id
    return Admission(ticket, None, now, new=True)
