"""A gateway's copy of the waiting rooms, fed by the actors' broadcasts: what the admission
check at booking and a buyer's place in line are answered from, with no database read.

Each room is loaded once from the database when first needed (this gateway started after
people joined, or forgot the room), then kept current by the broadcasts, which carry the
room's version: one already in the load is skipped, one after a gap makes the room be
forgotten and loaded again. Broadcasts that arrive while a load is under way wait for it.
A link to the broker that dropped (broadcasts missed) forgets every room.

The copy is a hint in the strict direction only where it says "admitted": the actor checks
every booking again, so a stale copy can refuse an admitted buyer for a moment (who retries),
never let a buyer without an admission buy.

It also answers the organizer's view of a room: its counts as broadcast, and the admissions
of the last minute, from the rise of the admissions given between the broadcasts this
gateway heard (an admission is always a change, so a minute with no broadcast had none).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.messages import RoomEntry, RoomUpdate
from engine.types import Clock, EventId, UserId, utcnow
from engine.waiting_room import QueueId

log = logging.getLogger(__name__)

#: An entry that may still move: the account's active one.
ACTIVE = frozenset({"prequeue", "waiting", "admitted"})

#: The window of the admission rate the organizer is shown.
RATE_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """What an event's organizer is shown of its waiting room, live."""

    event_id: EventId
    opened: bool
    closed: bool
    prequeued: int
    waiting: int
    #: Admitted buyers who have neither booked nor expired.
    unused: int
    #: Admissions given in the last `RATE_WINDOW` (since this gateway read the room, if later).
    admitted_last_minute: int
    seats_left: int


@dataclass(slots=True)
class Room:
    """One event's room as this gateway last heard."""

    event_id: EventId
    version: int = 0
    head: int = 0
    waiting: int = 0
    prequeued: int = 0
    opened: bool = False
    closed: bool = False
    rate: float = 0.0
    #: Closed by a sell-out with the event's waiting list open: closed entries may join it.
    waitlist: bool = False
    #: Admitted-but-unused buyers, and admissions given so far.
    unused: int = 0
    admitted: int = 0
    #: (when heard, `admitted` then), oldest first: one at most from before the window.
    heard: deque[tuple[datetime, int]] = field(default_factory=deque)
    entries: dict[QueueId, RoomEntry] = field(default_factory=dict)
    #: Each account's latest entry.
    latest: dict[UserId, QueueId] = field(default_factory=dict)

    def merge(self, update: RoomUpdate, now: datetime
              ) -> list[tuple[RoomEntry | None, RoomEntry]]:
        """Apply an update heard at `now`; the entries it changed, each as (before, after)."""
        self.version, self.head, self.waiting = update.version, update.head, update.waiting
        self.prequeued, self.opened, self.closed = update.prequeued, update.opened, update.closed
        self.rate, self.waitlist = update.rate, update.waitlist
        self.unused, self.admitted = update.unused, update.admitted
        if not self.heard or self.heard[-1][1] != update.admitted:
            self.heard.append((now, update.admitted))
        self._prune(now)
        changed = []
        for entry in update.entries:
            changed.append((self.entries.get(entry.queue_id), entry))
            self.entries[entry.queue_id] = entry
            # A finished entry never changes again, so an older one cannot come after the
            # account's newer (active) entry.
            if entry.status in ACTIVE or entry.user_id not in self.latest:
                self.latest[entry.user_id] = entry.queue_id
        return changed

    def admitted_within(self, now: datetime, window: timedelta = RATE_WINDOW) -> int:
        """Admissions given in the `window` before `now`, as this gateway heard them (those
        since it read the room, if it read it later)."""
        self._prune(now, window)
        return self.admitted - self.heard[0][1] if self.heard else 0

    def summary(self, now: datetime, seats_left: int) -> RoomSummary:
        """The organizer's view of the room at `now`, with the event's seats left."""
        return RoomSummary(self.event_id, self.opened, self.closed, self.prequeued,
                           self.waiting, self.unused, self.admitted_within(now), seats_left)

    def _prune(self, now: datetime, window: timedelta = RATE_WINDOW) -> None:
        # Keep the last count heard before the window: the rise is measured from it.
        while len(self.heard) > 1 and self.heard[1][0] <= now - window:
            self.heard.popleft()

    def position(self, entry: RoomEntry) -> int | None:
        """1 for the next to be admitted; None unless waiting in the line."""
        if entry.status != "waiting" or entry.seq is None or self.closed:
            return None
        return entry.seq - self.head + 1

    def estimated_wait(self, entry: RoomEntry) -> int | None:
        """Seconds until this entry's turn at the room's last known rate."""
        position = self.position(entry)
        if position is None or self.rate <= 0:
            return None
        return math.ceil(position / self.rate)

    def admission(self, user_id: UserId, now: datetime) -> str | None:
        """None if the account may book now, else the refusal's code (a closed room gates
        nothing: the sold-out view answers the flood after the sell-out)."""
        if self.closed:
            return None
        queue_id = self.latest.get(user_id)
        entry = None if queue_id is None else self.entries[queue_id]
        if entry is not None and entry.status == "admitted":
            if entry.admission_expires_at is not None and now < entry.admission_expires_at:
                return None
            return "admission_expired"
        if entry is not None and entry.status == "expired":
            return "admission_expired"
        return "admission_required"


#: Reads a room as stored, in the shape of a broadcast of every entry (None: no row yet).
Loader = Callable[[EventId], Awaitable[RoomUpdate | None]]
#: Told of every entry an update changed: (room, before, after).
Listener = Callable[[Room, RoomEntry | None, RoomEntry], None]


class RoomView:
    """The rooms of this gateway; see the module docstring."""

    def __init__(self, load: Loader, clock: Clock = utcnow) -> None:
        self._load = load
        self._clock = clock
        self._rooms: dict[EventId, Room] = {}
        self._loads: dict[EventId, asyncio.Task[Room]] = {}
        self._early: dict[EventId, list[RoomUpdate]] = {}
        self._by_queue: dict[QueueId, EventId] = {}
        self._listeners: list[Listener] = []
        #: Rooms forgotten after a gap in their versions (a metric, and for tests).
        self.gaps = 0

    def on_change(self, listener: Listener) -> None:
        """Call `listener` with every entry an applied update changed."""
        self._listeners.append(listener)

    def event_of(self, queue_id: QueueId) -> EventId | None:
        """The event of an entry this gateway has heard of."""
        return self._by_queue.get(queue_id)

    def known(self, event_id: EventId) -> Room | None:
        """The room if it is in memory (no load)."""
        return self._rooms.get(event_id)

    async def room(self, event_id: EventId) -> Room:
        """The event's room, loaded once if this gateway does not hold it."""
        room = self._rooms.get(event_id)
        if room is not None:
            return room
        task = self._loads.get(event_id)
        if task is None:
            self._early[event_id] = []  # from now on, before the read even starts
            task = self._loads[event_id] = asyncio.create_task(self._read(event_id))
            task.add_done_callback(lambda _: self._loads.pop(event_id, None))
        return await asyncio.shield(task)

    async def reload(self, event_id: EventId) -> Room:
        """Read the event's room again (it lacks something the database has)."""
        if event_id not in self._loads:
            self._rooms.pop(event_id, None)
        return await self.room(event_id)

    async def _read(self, event_id: EventId) -> Room:
        try:
            stored = await self._load(event_id)
        finally:
            early = self._early.pop(event_id)
        room = Room(event_id)
        room.heard.append((self._clock(), 0 if stored is None else stored.admitted))
        if stored is not None:
            self._apply_to(room, stored, quiet=True)
        self._rooms[event_id] = room
        self.apply([u for u in early if u.version > room.version])
        return room

    def apply(self, updates: Sequence[RoomUpdate]) -> None:
        """Merge broadcasts into the rooms held; a room not held ignores them (it is read
        whole when needed), one being loaded keeps them for after."""
        for update in updates:
            early = self._early.get(update.event_id)
            if early is not None:
                early.append(update)
                continue
            room = self._rooms.get(update.event_id)
            if room is None or update.version <= room.version:
                continue
            if update.version > room.version + 1:
                log.warning("waiting room of event %s: version %d after %d; reloading",
                            update.event_id, update.version, room.version)
                self.gaps += 1
                del self._rooms[update.event_id]
                continue
            self._apply_to(room, update, quiet=False)

    def _apply_to(self, room: Room, update: RoomUpdate, *, quiet: bool) -> None:
        for before, after in room.merge(update, self._clock()):
            self._by_queue[after.queue_id] = room.event_id
            if not quiet:
                for listener in self._listeners:
                    listener(room, before, after)

    def forget_all(self) -> None:
        """Broadcasts may have been missed: read every room again when next needed."""
        self._rooms.clear()
