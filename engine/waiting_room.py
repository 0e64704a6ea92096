"""A fair waiting room in front of a hot sale: the pure rules, no I/O, the clock passed in.

The room is state of its event, kept by the event's shard actor beside its ledger and fed in
mailbox order (joins, the sale opening, ticks, bookings that use an admission, the sell-out),
so every decision is made once, in order, by the single writer of the event.

- **Pre-queue, shuffled.** Joining between `queue_opens_at` and the sale's start puts a buyer
  in the pre-queue: no place yet, only the count of people in it. When the sale opens the
  pre-queue gets its order from a seed drawn for the event — each entry ranked by
  SHA-256(seed, queue id) — so arriving first before the opening gives no advantage, and
  anyone holding the seed and the entries can recompute the order (`audit`). Later
  arrivals queue behind, first in, first out.
- **Places without scans.** Every entry gets a sequence number when it enters the line, and
  buyers leave the line only from its front (admitted) or all at once (closed), so a
  position is `seq - head + 1`: no request walks the queue.
- **Admission the sale can absorb.** Never more admitted-but-unused buyers than seats left
  times `admit_factor`: each booking that uses an admission frees a slot, so admissions
  follow the rate at which the shard actually decides bookings; `admit_per_minute`, when
  set, caps them further (a token bucket with one second of burst). Nobody is admitted while
  seats left are 0 (holds open: the room waits) or while the event's waiting list has
  people to offer returned seats to.
- **Windows that expire.** An admission lasts `admission_seconds`; admissions expire in the
  order they were given, so expiring them costs no scan either, and their slot moves on.
- **Closing.** Sold out with no hold open: every waiting and pre-queued entry is `closed` at
  once, and no one is admitted again. An event its organizer cancels closes its room the
  same way, and voids the admissions not yet used (`expired` at the cancel).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from engine.types import UserId

QueueId = uuid.UUID


class QueueStatus(StrEnum):
    """Where one entry of the room stands."""

    PREQUEUE = "prequeue"
    WAITING = "waiting"
    ADMITTED = "admitted"
    USED = "used"
    EXPIRED = "expired"
    CLOSED = "closed"


#: An entry in one of these is the account's active one: joining again returns it.
ACTIVE = frozenset({QueueStatus.PREQUEUE, QueueStatus.WAITING, QueueStatus.ADMITTED})


class QueueNotOpen(Exception):
    """Joined before `queue_opens_at`."""


class QueueClosed(Exception):
    """Joined after the room closed (sold out)."""


@dataclass(frozen=True, slots=True)
class RoomConfig:
    """An event's waiting-room settings, as the organizer set them."""

    sale_starts_at: datetime | None
    queue_opens_at: datetime | None = None
    admit_per_minute: int | None = None
    admission_seconds: int = 300
    #: Admitted-but-unused buyers at most, per seat left (`waitingRoom.admitFactor`, 1 to 10:
    #: below 1 the last seat would never be offered).
    admit_factor: float = 2.0


@dataclass(slots=True)
class Entry:
    """One account's place in the room."""

    queue_id: QueueId
    user_id: UserId
    joined_at: datetime
    status: QueueStatus
    #: Its place in the line, from the sale's opening on (None in the pre-queue).
    seq: int | None = None
    admission_expires_at: datetime | None = None
    #: Its join order within the event, and whether it joined before the opening.
    join_no: int = 0
    prequeued: bool = False
    #: The order of its admission (0 for the first admitted), once admitted.
    admit_no: int | None = None


def rank(seed: bytes, queue_id: QueueId) -> bytes:
    """A pre-queued entry's sort key at the opening: uniform, and anyone can recompute it."""
    return hashlib.sha256(seed + queue_id.bytes).digest()


@dataclass
class WaitingRoom:
    """One event's room; see the module docstring."""

    config: RoomConfig
    seed: bytes
    entries: dict[QueueId, Entry] = field(default_factory=dict)
    #: The active entry of each account.
    active: dict[UserId, QueueId] = field(default_factory=dict)
    #: Pre-queued entries in the order they joined (the order the shuffle replaces).
    prequeue: list[QueueId] = field(default_factory=list)
    #: The line by sequence number; `head` is the seq of the next to admit.
    line: dict[int, QueueId] = field(default_factory=dict)
    next_seq: int = 0
    head: int = 0
    opened: bool = False
    closed: bool = False
    #: Admitted entries in the order admitted (they expire in that order).
    admitted: deque[QueueId] = field(default_factory=deque)
    #: Every admission ever given, in order: what an audit checks.
    admission_order: list[QueueId] = field(default_factory=list)
    #: Admitted entries that have neither booked nor expired.
    unused: int = 0
    #: Token bucket for `admit_per_minute`.
    tokens: float = 0.0
    last_tick: datetime | None = None
    #: Joins so far (the next entry's `join_no`), and each account's latest entry.
    joins: int = 0
    latest: dict[UserId, QueueId] = field(default_factory=dict)
    #: When the admissions of the last minute were given: the rate an estimate uses.
    recent: deque[datetime] = field(default_factory=deque)

    # -- joining -------------------------------------------------------------------------

    def join(self, queue_id: QueueId, user_id: UserId, now: datetime) -> tuple[Entry, bool]:
        """The account's entry, and whether it is new. One active entry per account: joining
        again while active returns it; after it expired or was used, a new join goes to
        the back of the line. `QueueNotOpen` before `queue_opens_at`, `QueueClosed` after
        the room closed."""
        current = self.active.get(user_id)
        if current is not None:
            return self.entries[current], False
        cfg = self.config
        if cfg.queue_opens_at is not None and now < cfg.queue_opens_at:
            raise QueueNotOpen("the waiting room has not opened yet")
        if self.closed:
            raise QueueClosed("the sale is sold out")
        self.open_line(now)
        entry = Entry(queue_id, user_id, now, QueueStatus.PREQUEUE, join_no=self.joins,
                      prequeued=not self.opened)
        self.joins += 1
        self.entries[queue_id] = entry
        self.active[user_id] = queue_id
        self.latest[user_id] = queue_id
        if self.opened:
            self._enqueue(entry)
        else:
            self.prequeue.append(queue_id)
        return entry, True

    def open_line(self, now: datetime) -> bool:
        """At the sale's start (idempotent): the pre-queue, shuffled, becomes the front of
        the line. Returns whether it opened now."""
        starts = self.config.sale_starts_at
        if self.opened or (starts is not None and now < starts):
            return False
        self.opened = True
        for queue_id in sorted(self.prequeue, key=lambda q: rank(self.seed, q)):
            entry = self.entries[queue_id]
            if entry.status is QueueStatus.PREQUEUE:
                self._enqueue(entry)
        return True

    def _enqueue(self, entry: Entry) -> None:
        entry.status = QueueStatus.WAITING
        entry.seq = self.next_seq
        self.line[self.next_seq] = entry.queue_id
        self.next_seq += 1

    # -- what a buyer sees -----------------------------------------------------------------

    def position(self, entry: Entry) -> int | None:
        """1 for the next to be admitted; None when not waiting in the line."""
        if entry.status is not QueueStatus.WAITING or entry.seq is None:
            return None
        return entry.seq - self.head + 1

    @property
    def waiting(self) -> int:
        """Entries in the line, not yet admitted."""
        return self.next_seq - self.head if not self.closed else 0

    @property
    def prequeued(self) -> int:
        """Entries in the pre-queue (before the opening)."""
        return 0 if self.opened else len(self.prequeue)

    def estimated_wait_seconds(self, entry: Entry, admissions_per_second: float
                               ) -> int | None:
        """How long until this entry's turn at the given admission rate; None when unknown."""
        position = self.position(entry)
        if position is None or admissions_per_second <= 0:
            return None
        return math.ceil(position / admissions_per_second)

    def admission_for(self, user_id: UserId, now: datetime) -> Entry | None:
        """The account's admission if it may book now."""
        queue_id = self.active.get(user_id)
        entry = None if queue_id is None else self.entries[queue_id]
        if (entry is None or entry.status is not QueueStatus.ADMITTED
                or entry.admission_expires_at is None or now >= entry.admission_expires_at):
            return None
        return entry

    # -- the actor's decisions ------------------------------------------------------------

    def use(self, user_id: UserId, now: datetime) -> Entry | None:
        """An accepted booking uses the account's admission (None without a valid one)."""
        entry = self.admission_for(user_id, now)
        if entry is not None:
            entry.status = QueueStatus.USED
            del self.active[user_id]
            self.unused -= 1
        return entry

    def tick(self, now: datetime, *, seats_left: int, sold_out: bool,
             waitlist_waiting: bool = False) -> list[Entry]:
        """Everything due at `now`: the opening, expired admissions, the sell-out, new
        admissions. Returns the entries whose status changed, in order."""
        changed: list[Entry] = []
        self.open_line(now)
        changed += self._expire(now)
        if sold_out and not self.closed:
            changed += self._close()
        if self.closed or not self.opened:
            self.last_tick = now
            return changed
        cap = math.floor(max(0, seats_left) * self.config.admit_factor) - self.unused
        budget = cap if not waitlist_waiting else 0
        if self.config.admit_per_minute is not None:
            self._refill(now)
            budget = min(budget, math.floor(self.tokens))
        admitted = 0
        while admitted < budget and self.head < self.next_seq:
            entry = self.entries[self.line.pop(self.head)]
            self.head += 1
            entry.status = QueueStatus.ADMITTED
            entry.admission_expires_at = now + timedelta(seconds=self.config.admission_seconds)
            entry.admit_no = len(self.admission_order)
            self.recent.append(now)
            self.admitted.append(entry.queue_id)
            self.admission_order.append(entry.queue_id)
            changed.append(entry)
            admitted += 1
        self.unused += admitted
        if self.config.admit_per_minute is not None:
            self.tokens -= admitted
        self.last_tick = now
        return changed

    def admissions_per_second(self, now: datetime) -> float:
        """The rate a wait is estimated at: `admit_per_minute` when set, else what the last
        minute's admissions show (0 before any)."""
        if self.config.admit_per_minute is not None:
            return self.config.admit_per_minute / 60
        while self.recent and (now - self.recent[0]).total_seconds() > 60:
            self.recent.popleft()
        if not self.recent:
            return 0.0
        span = max(1.0, (now - self.recent[0]).total_seconds())
        return len(self.recent) / span

    def next_due(self, now: datetime) -> datetime | None:
        """When `tick` has something to do without any command coming: the opening, the
        first admission to expire, the next token of `admit_per_minute` while people wait.
        (Seats coming back, or admissions used, arrive as commands and tick then.)"""
        if self.closed:
            return None
        times: list[datetime] = []
        starts = self.config.sale_starts_at
        if not self.opened and starts is not None:
            times.append(starts)
        for queue_id in self.admitted:
            expires = self.entries[queue_id].admission_expires_at
            if self.entries[queue_id].status is QueueStatus.ADMITTED and expires is not None:
                times.append(expires)
                break
        rate = (self.config.admit_per_minute or 0) / 60
        if self.opened and rate and self.head < self.next_seq and self.tokens < 1:
            times.append(now + timedelta(seconds=(1 - self.tokens) / rate))
        return min(times) if times else None

    def _refill(self, now: datetime) -> None:
        rate = (self.config.admit_per_minute or 0) / 60
        if self.last_tick is None:
            self.tokens = max(self.tokens, 1.0)
        else:
            elapsed = max(0.0, (now - self.last_tick).total_seconds())
            self.tokens = min(max(1.0, rate), self.tokens + elapsed * rate)  # 1 s of burst

    def _expire(self, now: datetime) -> list[Entry]:
        expired = []
        while self.admitted:
            entry = self.entries[self.admitted[0]]
            if entry.status is QueueStatus.ADMITTED:
                assert entry.admission_expires_at is not None
                if now < entry.admission_expires_at:
                    break
                entry.status = QueueStatus.EXPIRED
                del self.active[entry.user_id]
                self.unused -= 1
                expired.append(entry)
            self.admitted.popleft()
        return expired

    def cancel(self, now: datetime) -> list[Entry]:
        """The organizer cancelled the event: the room closes as at a sell-out (if it has not
        already), and every admission not yet used is void — `expired` at `now`, keeping its
        `admit_no`, so the order of admissions given stays what an audit checks. Returns the
        entries whose status changed."""
        voided = []
        for queue_id in self.admitted:
            entry = self.entries[queue_id]
            if entry.status is QueueStatus.ADMITTED:
                entry.status = QueueStatus.EXPIRED
                entry.admission_expires_at = now
                self.active.pop(entry.user_id, None)
                voided.append(entry)
        self.admitted.clear()
        self.unused = 0
        return voided + ([] if self.closed else self._close())

    def _close(self) -> list[Entry]:
        self.closed = True
        closed = []
        for queue_id in [*self.prequeue, *self.line.values()]:
            entry = self.entries[queue_id]
            if entry.status in (QueueStatus.PREQUEUE, QueueStatus.WAITING):
                entry.status = QueueStatus.CLOSED
                self.active.pop(entry.user_id, None)
                closed.append(entry)
        self.line.clear()
        self.head = self.next_seq
        return closed


def restore(config: RoomConfig, seed: bytes, entries: Iterable[Entry], *, opened: bool,
            closed: bool) -> WaitingRoom:
    """A room rebuilt from its stored entries (any order): what a new owner of the event
    loads. Admissions given are ordered by `admit_no`, the line by `seq`, the pre-queue by
    join order; the token bucket starts empty (at most one second of admissions lost)."""
    room = WaitingRoom(config, seed, opened=opened, closed=closed)
    by_join = sorted(entries, key=lambda e: e.join_no)
    for entry in by_join:
        room.entries[entry.queue_id] = entry
        room.latest[entry.user_id] = entry.queue_id
        if entry.status in ACTIVE:
            room.active[entry.user_id] = entry.queue_id
        if entry.prequeued and not opened:
            room.prequeue.append(entry.queue_id)
        if entry.seq is not None:
            room.next_seq = max(room.next_seq, entry.seq + 1)
    room.joins = by_join[-1].join_no + 1 if by_join else 0
    waiting = sorted((e for e in by_join if e.status is QueueStatus.WAITING),
                     key=lambda e: e.seq or 0)
    room.line = {e.seq: e.queue_id for e in waiting if e.seq is not None}
    room.head = min(room.line) if room.line else room.next_seq
    given = sorted((e for e in by_join if e.admit_no is not None),
                   key=lambda e: e.admit_no or 0)
    room.admission_order = [e.queue_id for e in given]
    room.admitted = deque(e.queue_id for e in given if e.status is QueueStatus.ADMITTED)
    room.unused = len(room.admitted)
    return room


def audit(seed: bytes, prequeued: Sequence[QueueId], later: Sequence[QueueId],
          admission_order: Iterable[QueueId]) -> list[str]:
    """What is wrong with an admission order, given the seed, the entries pre-queued and
    those that joined after the opening (each in join order); empty when it follows the
    rules: the pre-queue in the seed's order, then first in, first out."""
    expected = [*sorted(prequeued, key=lambda q: rank(seed, q)), *later]
    admitted = list(admission_order)
    problems = []
    if len(set(admitted)) != len(admitted):
        problems.append("an entry was admitted twice")
    for i, queue_id in enumerate(admitted):
        if i >= len(expected) or expected[i] != queue_id:
            problems.append(f"admission {i + 1} is out of order")
            break
    return problems
