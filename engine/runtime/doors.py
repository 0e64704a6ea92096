"""The doors of the events one shard actor owns: check-in decided in the actor's order.

Kept apart from the actor's booking logic, which calls it at four points: a check-in to
decide, tickets issued (a booking confirmed or paid), a cancel to allow or refuse (a booking
with a ticket checked in stands), and state to forget (a batch rolled back, an event lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from engine.domain import EventLedger
from engine.door import Door, check_in
from engine.errors import UnknownTicket
from engine.messages import (
    CancelCommand,
    CheckinCommand,
    CheckinResult,
    Command,
    EventCancelCommand,
    Outcome,
    TicketInfo,
)
from engine.metrics import Metrics
from engine.storage.shard_store import BatchWrite
from engine.types import BookingId, BookingStatus, EventId


class DoorStore(Protocol):
    """Where doors are loaded from (`PgShardStore.doors`)."""

    async def doors(self, event_ids: set[EventId]) -> dict[EventId, Door]:
        """The tickets of these events as the door sees them."""


class Doors:
    """Per event, its tickets' state at the door: loaded once when first needed, then kept
    current from the actor's own decisions (nobody else writes an owned event's tickets)."""

    def __init__(self, metrics: Metrics) -> None:
        self._doors: dict[EventId, Door] = {}
        self._metric = metrics.checkins

    async def load(self, store: DoorStore, commands: Iterable[Command],
                   prior: dict[BookingId, Outcome]) -> None:
        """Load the doors this batch needs: its check-ins' events, the events it cancels
        whole, and the events of its cancels of confirmed bookings (a ticket of one may have
        been checked in, perhaps by a previous owner)."""
        needed: set[EventId] = set()
        for cmd in commands:
            if isinstance(cmd, CheckinCommand | EventCancelCommand):
                needed.add(cmd.event_id)
            elif isinstance(cmd, CancelCommand):
                earlier = prior.get(cmd.booking_id)
                if earlier is not None and earlier.status is BookingStatus.CONFIRMED:
                    needed.add(cmd.event_id)
        missing = needed - self._doors.keys()
        if missing:
            self._doors.update(await store.doors(missing))

    def forget(self, event_ids: Iterable[EventId]) -> None:
        """Drop what a rolled-back batch may have changed, or an event lost to another owner."""
        for event_id in event_ids:
            self._doors.pop(event_id, None)

    def issued(self, event_id: EventId, booking_id: BookingId,
               tickets: Sequence[TicketInfo]) -> None:
        """A booking was confirmed with these tickets (known to a loaded door only; an
        unloaded one reads them with the rest)."""
        door = self._doors.get(event_id)
        if door is not None:
            door.issued(booking_id, tickets)

    def used(self, event_id: EventId, booking_id: BookingId) -> bool:
        """Whether a ticket of this booking was checked in. `load` loaded the door of every
        confirmed booking's cancel; a booking confirmed in this very batch has no door loaded
        and no ticket anyone could have scanned yet."""
        door = self._doors.get(event_id)
        return door is not None and door.used(booking_id)

    def voided(self, event_id: EventId, booking_id: BookingId) -> None:
        """A booking was cancelled: its tickets are void at the door."""
        door = self._doors.get(event_id)
        if door is not None:
            door.voided(booking_id)

    def opened(self, event_id: EventId) -> bool:
        """Whether a ticket of the event was checked in (`load` loaded its door)."""
        door = self._doors.get(event_id)
        return door is not None and any(t.checked_in_at is not None
                                        for t in door.tickets.values())

    def closed(self, event_id: EventId) -> None:
        """The event was cancelled: every ticket of it is void at the door (`load` loaded its
        door for the cancel)."""
        door = self._doors.get(event_id)
        if door is not None:
            for booking_id in door.by_booking:
                door.voided(booking_id)

    def check_in(self, cmd: CheckinCommand, ledger: EventLedger | None, write: BatchWrite,
                 now: datetime) -> Outcome:
        """Decide a check-in; a new one goes into the batch. A refusal is fenced too: an
        actor that lost the event to another owner must not call a ticket that owner issued
        unknown — its commit fails, and the command is forwarded to the owner."""
        door = self._doors.get(cmd.event_id) if ledger is not None else None
        if ledger is None or door is None:
            return self._answer(cmd, None, UnknownTicket.code, None)
        admission = check_in(door, cmd.code, cmd.checkin_id, now)
        if admission.new:
            assert admission.ticket is not None
            write.checked_in(ledger, (admission.ticket.id, now, cmd.checkin_id, cmd.user_id))
        else:
            write.touch(ledger)
        ticket = None if admission.ticket is None else admission.ticket.info
        return self._answer(cmd, ticket, admission.reason, admission.checked_in_at)

    @staticmethod
    def _answer(cmd: CheckinCommand, ticket: TicketInfo | None, reason: str | None,
                checked_in_at: datetime | None) -> Outcome:
        status = BookingStatus.CONFIRMED if reason is None else BookingStatus.REJECTED
        return Outcome(cmd.checkin_id, cmd.event_id, cmd.user_id, status,
                       0 if ticket is None else 1, reason, () if ticket is None else (ticket,),
                       checkin=CheckinResult(checked_in_at))

    def count(self, outcomes: Iterable[Outcome]) -> None:
        """Count the committed batch's check-ins by outcome."""
        for outcome in outcomes:
            if outcome.checkin is not None:
                self._metric.labels(outcome.reason or "checked_in").inc()
