"""The waiting rooms of the events one shard actor owns: state of the event, decided in the
actor's order and written in its group commit (engine/waiting_room.py holds the rules).

Kept apart from the actor's booking logic, which calls it at a few points: rooms to load
(an event claimed) or forget (a batch rolled back, an event lost), a join to decide, a
booking to refuse without an admission or to count as using one, an event cancelled by its
organizer (its room closes), and, at the end of every batch, each room of the batch's
events ticked (opening, expiries, sell-out, admissions) and its changes written and
broadcast. A room asks the actor's timer for a wake-up at its next
due moment (`next_due`), so admissions follow the actor's injected clock, never a poll.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from engine.domain import EventLedger
from engine.errors import (
    AdmissionExpired,
    AdmissionRequired,
    EventUnknown,
    NoWaitingRoom,
    QueueClosed,
    QueueNotOpen,
)
from engine.messages import Outcome, QueueCommand, QueuePlace, RoomEntry, RoomUpdate
from engine.storage.queue_rooms import LoadedRoom
from engine.storage.shard_store import BatchWrite
from engine.types import BookingStatus, EventId, UserId
from engine.waiting_room import Entry, QueueStatus, WaitingRoom
from engine.waiting_room import QueueClosed as ClosedRoom
from engine.waiting_room import QueueNotOpen as RoomNotOpen

#: The booking id a room's wake-up carries in the actor's deadline heap.
ROOM_TICK = uuid.UUID(int=1)

#: The place a refused join answers with (never shown: the refusal is).
_REFUSED = QueuePlace("rejected")

#: A stored due moment within this of the room's own is left as it is.
DUE_SLACK_SECONDS = 0.001


class RoomStore(Protocol):
    """Where rooms are loaded from (`PgShardStore.rooms`)."""

    async def rooms(self, ledgers: dict[EventId, EventLedger]) -> dict[EventId, LoadedRoom]:
        """The rooms of these events that have one enabled."""


def place(room: WaitingRoom, entry: Entry, now: datetime) -> QueuePlace:
    """Where an entry stands, as its owner is told."""
    rate = room.admissions_per_second(now)
    return QueuePlace(entry.status.value, room.position(entry),
                      room.prequeued if entry.status is QueueStatus.PREQUEUE else None,
                      room.estimated_wait_seconds(entry, rate),
                      entry.admission_expires_at
                      if entry.status is QueueStatus.ADMITTED else None)


class Rooms:
    """Per event with a waiting room, its room; see the module docstring."""

    def __init__(self, arm: Callable[[EventId, datetime], None]) -> None:
        self._rooms: dict[EventId, LoadedRoom] = {}
        self._arm = arm
        #: The wake-up last asked for, per room (a later batch asks again only if it moved).
        self._armed: dict[EventId, datetime] = {}
        #: What this batch changed: entries by room, and rooms whose line moved.
        self._dirty: dict[EventId, dict[uuid.UUID, Entry]] = {}
        self._moved: set[EventId] = set()

    async def load(self, store: RoomStore, claimed: dict[EventId, EventLedger]) -> None:
        """Load the rooms of events just claimed (after the claim: a stale owner's later
        write is fenced, so what is read here is the last word)."""
        if claimed:
            self._rooms.update(await store.rooms(claimed))

    def forget(self, event_ids: Iterable[EventId]) -> None:
        """Drop what a rolled-back batch may have changed, or an event lost to another owner."""
        for event_id in event_ids:
            self._rooms.pop(event_id, None)
            self._armed.pop(event_id, None)
            self._dirty.pop(event_id, None)
            self._moved.discard(event_id)

    def has(self, event_id: EventId) -> bool:
        """Whether this event's room is in memory (a wake-up of it still matters)."""
        return event_id in self._rooms

    def room(self, event_id: EventId) -> WaitingRoom | None:
        """An event's room, if it has one (for tests and metrics)."""
        loaded = self._rooms.get(event_id)
        return None if loaded is None else loaded.room

    def counts(self) -> tuple[int, int]:
        """Buyers waiting (in line or pre-queued) and admitted-but-unused, in every room."""
        rooms = [loaded.room for loaded in self._rooms.values()]
        return (sum(r.waiting + r.prequeued for r in rooms), sum(r.unused for r in rooms))

    # -- decisions -----------------------------------------------------------------------

    def join(self, cmd: QueueCommand, ledger: EventLedger | None, now: datetime) -> Outcome:
        """Decide a join: the account's active entry, or a new one at the back (or in the
        pre-queue); refused before the queue opens, after it closed, or with no room."""
        def answer(status: BookingStatus, queue_id: uuid.UUID, reason: str | None = None,
                   where: QueuePlace = _REFUSED) -> Outcome:
            # A refusal carries a place too: `queue` marks the answer as a join's.
            return Outcome(queue_id, cmd.event_id, cmd.user_id, status, 0, reason,
                           answers=cmd.booking_id, queue=where)

        loaded = self._rooms.get(cmd.event_id)
        if ledger is None or loaded is None:
            code = EventUnknown.code if ledger is None else NoWaitingRoom.code
            return answer(BookingStatus.REJECTED, cmd.booking_id, code)
        room = loaded.room
        known = room.entries.get(cmd.booking_id)
        if known is None:  # not this very join decided before (a redelivery)
            try:
                known, new = room.join(cmd.booking_id, cmd.user_id, now)
            except RoomNotOpen:
                return answer(BookingStatus.REJECTED, cmd.booking_id, QueueNotOpen.code)
            except ClosedRoom:
                return answer(BookingStatus.REJECTED, cmd.booking_id, QueueClosed.code)
            if new:
                self._changed(cmd.event_id, known)
                self._tick(ledger, now)  # a join may be admitted at once
        return answer(BookingStatus.WAITING, known.queue_id, where=place(room, known, now))

    def refuse(self, user_id: UserId, ledger: EventLedger, now: datetime) -> str | None:
        """Why this account may not book the event now (None: it may, or there is no room).
        A closed room gates nothing: a seat returned after the sell-out goes to the waiting
        list first and is otherwise on sale as if there were no room (nobody is left in
        line to admit)."""
        loaded = self._rooms.get(ledger.event_id)
        if (loaded is None or loaded.room.closed
                or loaded.room.admission_for(user_id, now) is not None):
            return None
        room = loaded.room
        latest = room.latest.get(user_id)
        entry = None if latest is None else room.entries[latest]
        if entry is not None and entry.status in (QueueStatus.ADMITTED, QueueStatus.EXPIRED):
            return AdmissionExpired.code  # admitted before; the window is over
        return AdmissionRequired.code

    def used(self, ledger: EventLedger, user_id: UserId, now: datetime) -> None:
        """An accepted booking uses the account's admission up."""
        loaded = self._rooms.get(ledger.event_id)
        entry = None if loaded is None else loaded.room.use(user_id, now)
        if entry is not None:
            self._changed(ledger.event_id, entry)

    def cancel(self, ledger: EventLedger, now: datetime) -> None:
        """Its organizer cancelled the event: its room closes and the admissions not used
        are void (written and broadcast by this batch's `settle`)."""
        loaded = self._rooms.get(ledger.event_id)
        if loaded is None:
            return
        for entry in loaded.room.cancel(now):
            self._changed(ledger.event_id, entry)
        self._moved.add(ledger.event_id)

    def settle(self, ledgers: Iterable[EventLedger], write: BatchWrite, now: datetime) -> None:
        """End of a batch: tick every room of its events, write what changed (fenced by the
        event's epoch like every write), queue the broadcasts, and arm the next wake-up."""
        for ledger in ledgers:
            loaded = self._rooms.get(ledger.event_id)
            if loaded is None:
                continue
            self._tick(ledger, now)
            room, event_id = loaded.room, ledger.event_id
            dirty = self._dirty.pop(event_id, {})
            offered = offers_waitlist(room, ledger)
            if room.closed and offered != loaded.waitlist:
                # Closed, or its list turned on or off since: the gateways must hear whether
                # the closed entries may join the waiting list (said once per load at least).
                self._moved.add(event_id)
            due = room.next_due(now)
            if dirty or event_id in self._moved:
                self._moved.discard(event_id)
                loaded.version += 1
                loaded.waitlist = offered
                change = update(event_id, loaded, now, dirty.values(), waitlist=offered)
                write.rooms.rooms[event_id] = (room.seed, room.opened, room.closed,
                                               loaded.version, room.head, change.rate, due)
                for entry in dirty.values():
                    write.rooms.entry(event_id, entry)
                write.touch(ledger)
                write.rooms.updates.append(change)
                loaded.due = due
            elif due_moved(loaded.due, due):
                # Nothing a gateway needs to hear (a tick that found no token, a reload), yet
                # the sweep must read when the room is next due, not a moment long past.
                write.rooms.dues[event_id] = due
                write.touch(ledger)
                loaded.due = due
            if due is not None and self._armed.get(event_id) != due:
                self._armed[event_id] = due
                self._arm(event_id, due)

    # -- the ticking -----------------------------------------------------------------------

    def _tick(self, ledger: EventLedger, now: datetime) -> None:
        room = self._rooms[ledger.event_id].room
        before = (room.head, room.opened, room.closed)
        changed = room.tick(now, seats_left=ledger.available,
                            sold_out=ledger.sold >= ledger.capacity,
                            waitlist_waiting=bool(ledger.waitlist))
        if room.opened and not before[1]:  # the pre-queue, shuffled, took its places
            for queue_id in room.line.values():
                self._changed(ledger.event_id, room.entries[queue_id])
        for entry in changed:
            self._changed(ledger.event_id, entry)
        if (room.head, room.opened, room.closed) != before:
            self._moved.add(ledger.event_id)

    def _changed(self, event_id: EventId, entry: Entry) -> None:
        self._dirty.setdefault(event_id, {})[entry.queue_id] = entry


def due_moved(stored: datetime | None, due: datetime | None) -> bool:
    """Whether the room's next due moment moved from the one stored (by more than the float
    arithmetic of the admission pace wobbles: a token's time, recomputed, may differ by a
    microsecond)."""
    if stored is None or due is None:
        return stored is not due
    return abs((due - stored).total_seconds()) > DUE_SLACK_SECONDS


def offers_waitlist(room: WaitingRoom, ledger: EventLedger) -> bool:
    """Whether the room's closed entries are offered the event's waiting list: closed by the
    sell-out (not by a cancel, where nothing is left to wait for) with the list open."""
    return room.closed and ledger.waitlist_open and not ledger.cancelled


def update(event_id: EventId, loaded: LoadedRoom, now: datetime,
           entries: Iterable[Entry], *, waitlist: bool = False) -> RoomUpdate:
    """The broadcast of a room's change: its summary and the entries that changed."""
    room = loaded.room
    return RoomUpdate(event_id, loaded.version, room.head, room.waiting, room.prequeued,
                      room.opened, room.closed, room.admissions_per_second(now),
                      tuple(RoomEntry(e.queue_id, e.user_id, e.status.value, e.seq,
                                      e.admission_expires_at) for e in entries), waitlist,
                      room.unused, len(room.admission_order))
