"""The shard actor: owns its events' stock in memory, decides its mailbox in order, writes each
batch in one transaction, and only then acks, answers and broadcasts stock.

Group commit: while one batch commits, new commands queue up; the next batch is all of them.
So batches grow with load and latency stays one commit when idle. No polling anywhere: the
loop sleeps on the mailbox.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from engine import domain, waitlist_rules
from engine.domain import EventLedger, Hold, KeyPin
from engine.door import Door
from engine.errors import (
    CheckedIn,
    DuplicateWrite,
    EventCancelled,
    EventUnknown,
    IdempotencyMismatch,
    KeyConflict,
    NotCancellable,
    NotExtendable,
    NotPayable,
    NotWaiting,
    PoisonBatch,
    RefundWindowClosed,
    StaleOwner,
    Unavailable,
)
from engine.messages import (
    BookCommand,
    CancelCommand,
    CheckinCommand,
    Command,
    EventCancelCommand,
    ExtendCommand,
    JoinCommand,
    LeaveCommand,
    Outcome,
    PayCommand,
    QueueCommand,
    StockUpdate,
    TicketInfo,
    WaitlistCommand,
    WakeCommand,
    void_tickets,
)
from engine.metrics import Metrics
from engine.runtime.doors import Doors
from engine.runtime.rooms import ROOM_TICK, Rooms
from engine.storage.queue_rooms import LoadedRoom
from engine.storage.shard_store import BatchWrite
from engine.tickets import new_tickets
from engine.transport.base import Envelope, Outlet
from engine.types import BookingId, BookingStatus, Clock, EventId, Sleeper, UserId, utcnow

log = logging.getLogger(__name__)

#: Backoff while the database is away: long enough not to hammer a restarting server.
_RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class ShardStore(Protocol):
    """What the actor needs from storage (see `engine.storage.shard_store.PgShardStore`)."""

    async def claim(self, event_ids: set[EventId]) -> dict[EventId, EventLedger]:
        """Take ownership of events and load their state."""

    async def existing(self, booking_ids: list[BookingId]) -> dict[BookingId, Outcome]:
        """Recorded outcomes for these booking ids."""

    async def commit(self, batch: BatchWrite) -> None:
        """Write a batch atomically, fenced by owner epochs."""

    async def dead_lettered(self, commands: Sequence[Command]) -> list[Outcome]:
        """Record commands given up on as rejected; the outcomes to answer."""

    async def events_with_holds(self, due_before: datetime | None = None) -> list[EventId]:
        """Events that have open holds (whoever owns them); with `due_before`, only those
        with a hold whose deadline is earlier."""

    async def doors(self, event_ids: set[EventId]) -> dict[EventId, Door]:
        """The tickets of these events as the door sees them."""
    async def entry_statuses(self, entry_ids: list[BookingId]) -> dict[BookingId, str]:
        """The stored status of these waiting-list entries (those that exist)."""

    async def rooms(self, ledgers: dict[EventId, EventLedger]) -> dict[EventId, LoadedRoom]:
        """The waiting rooms of these events that have one enabled."""


@dataclass(slots=True)
class _Decided:
    write: BatchWrite
    outcomes: list[Outcome]
    touched: set[EventId]


class ShardActor:
    """One shard's single writer. Use `submit`, `drain`, and `async with` (or start/stop)."""

    def __init__(self, shard: int, store: ShardStore, outlet: Outlet, *,
                 clock: Clock = utcnow, sleeper: Sleeper = asyncio.sleep,
                 max_batch: int = 1024, metrics: Metrics | None = None) -> None:
        self.shard = shard
        metrics = metrics or Metrics()
        label = str(shard)
        self._m_depth = metrics.mailbox_depth.labels(label)
        self._m_batch = metrics.batch_size.labels(label)
        self._m_commit = metrics.commit_seconds.labels(label)
        self._metrics = metrics
        self._store = store
        self._outlet = outlet
        self._clock = clock
        self._max_batch = max_batch
        self._mailbox: asyncio.Queue[Envelope] = asyncio.Queue()
        self._ledgers: dict[EventId, EventLedger] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._batch: list[Envelope] = []
        self.fenced = 0
        # Hold deadlines: a heap of (deadline, event, booking), read by one timer task that
        # sleeps until the earliest and then puts a wake-up for its event in the mailbox, so
        # an expiry is decided in order like any command. Entries of holds paid or cancelled
        # since are skipped when they come up.
        self._sleeper = sleeper
        self._deadlines: list[tuple[datetime, EventId, BookingId]] = []
        self._deadlines_moved = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        #: Where to push a hold's expiry: the gateway that took the booking (best effort;
        #: unknown for holds a claim reloaded).
        self._reply_to: dict[BookingId, str] = {}
        #: Its events' tickets as check-in sees them (engine/runtime/doors.py).
        self._doors = Doors(metrics)
        #: Its events' waiting rooms (engine/runtime/rooms.py), ticked on the same timer.
        self._rooms = Rooms(self._arm_room)
        metrics.shard_started(str(shard))

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Begin taking from the mailbox."""
        self.begin()

    def begin(self) -> None:
        """`start`, callable where nothing may be awaited (a done-callback restarting it)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"shard-{self.shard}")
            self._timer = timer = asyncio.create_task(self._timers(),
                                                      name=f"shard-{self.shard}-timers")
            # A loop that dies takes its timers along: its successor re-arms the deadlines.
            self._task.add_done_callback(lambda _: timer.cancel())

    async def stop(self) -> None:
        """Stop taking new batches; the batch in flight still commits, acks and answers."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            await asyncio.wait([timer])
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # asyncio.wait, not `await task` under suppress(CancelledError): that would also
        # swallow a cancellation of stop() itself (a shutdown deadline) and keep waiting.
        await asyncio.wait([task])
        if self._inflight is not None and not self._inflight.done():
            await self._inflight

    async def __aenter__(self) -> ShardActor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- intake --------------------------------------------------------------------------

    def submit(self, envelope: Envelope) -> None:
        """Queue an envelope; never blocks (the transport bounds what is in flight)."""
        self._idle.clear()
        self._mailbox.put_nowait(envelope)
        self._m_depth.set(self._mailbox.qsize())
        if envelope.redelivered:
            self._metrics.redeliveries.inc(len(envelope.commands))

    @property
    def backlog(self) -> int:
        """Envelopes waiting in the mailbox (not counting the batch in flight)."""
        return self._mailbox.qsize()

    @property
    def busy(self) -> bool:
        """Whether commands are queued, a batch is in flight, or a hold deadline is due by
        the actor's clock and not yet decided."""
        return not self._idle.is_set() or self._due()

    def on_death(self, callback: Callable[[asyncio.Task[None]], None]) -> None:
        """Call `callback` with the loop task when it ends (crash or stop)."""
        if self._task is not None:
            self._task.add_done_callback(callback)

    async def drain(self) -> None:
        """Return once every hold deadline due by the clock is decided, the mailbox is empty,
        and the last batch is committed and answered."""
        self._fire_due()
        await self._idle.wait()

    def events(self) -> list[EventId]:
        """The events this actor holds in memory (for a successor to wake)."""
        return list(self._ledgers)

    # -- hold deadlines ------------------------------------------------------------------

    def _arm(self, event_id: EventId, hold: Hold) -> None:
        # Its warning too, unless that time is past (a hold too short to be warned; a
        # reloaded one is warned by its claim's batch).
        times = [hold.expires_at] + ([hold.warn_at] if hold.warn_at > self._clock() else [])
        for at in times:
            entry = (at, event_id, hold.booking_id)
            heapq.heappush(self._deadlines, entry)
            if self._deadlines[0] == entry:
                self._deadlines_moved.set()  # earlier than the timer sleeps for

    def _arm_room(self, event_id: EventId, when: datetime) -> None:
        """Wake a waiting room at `when` (its opening, an expiry, its next admission)."""
        entry = (when, event_id, ROOM_TICK)
        heapq.heappush(self._deadlines, entry)
        if self._deadlines[0] == entry:
            self._deadlines_moved.set()

    def _disarm(self, event_ids: set[EventId]) -> None:
        """Drop the deadlines of events another actor owns now: its claim armed them there,
        and waking them here would claim them back."""
        for _, _, booking_id in (d for d in self._deadlines if d[1] in event_ids):
            self._reply_to.pop(booking_id, None)
        self._deadlines = [d for d in self._deadlines if d[1] not in event_ids]
        heapq.heapify(self._deadlines)

    def _open(self, event_id: EventId, booking_id: BookingId) -> bool:
        """Whether a deadline entry still matters: its hold is open, or its event is not
        in memory (a wake-up makes the claim reload it and expire what is overdue)."""
        ledger = self._ledgers.get(event_id)
        if booking_id == ROOM_TICK:
            return ledger is None or self._rooms.has(event_id)
        return ledger is None or booking_id in ledger.holds

    def _due(self) -> bool:
        now = self._clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, event_id, booking_id = self._deadlines[0]
            if self._open(event_id, booking_id):
                return True
            heapq.heappop(self._deadlines)  # paid or cancelled since: nothing to do
        return False

    def _fire_due(self) -> None:
        """Put a wake-up in the mailbox for every event with a deadline due now."""
        now = self._clock()
        due: set[EventId] = set()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, event_id, booking_id = heapq.heappop(self._deadlines)
            if self._open(event_id, booking_id):
                due.add(event_id)
        for event_id in sorted(due):
            self.submit(Envelope([WakeCommand(event_id)]))

    async def _timers(self) -> None:
        while True:
            self._deadlines_moved.clear()
            self._fire_due()
            waits: list[asyncio.Future[object]] = [
                asyncio.ensure_future(self._deadlines_moved.wait())]
            if self._deadlines:
                delay = (self._deadlines[0][0] - self._clock()).total_seconds()
                waits.append(asyncio.ensure_future(self._sleeper(delay)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()

    def unfinished(self) -> list[Envelope]:
        """What a dead actor held, for its successor: the batch it was deciding (flagged as
        redelivered, since it may have committed) and its mailbox. Wakes drain() waiters."""
        left = [replace(envelope, redelivered=True) for envelope in self._batch]
        self._batch = []
        while not self._mailbox.empty():
            left.append(self._mailbox.get_nowait())
        self._idle.set()
        return left

    def owns(self, event_id: EventId) -> bool:
        """Whether this actor currently holds the event in memory."""
        return event_id in self._ledgers

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            batch = [await self._mailbox.get()]
            size = len(batch[0].commands)
            while size < self._max_batch and not self._mailbox.empty():
                envelope = self._mailbox.get_nowait()
                batch.append(envelope)
                size += len(envelope.commands)
            self._m_depth.set(self._mailbox.qsize())
            self._batch = batch
            # Shielded: cancelling the loop (shutdown) must not abandon a batch between its
            # commit and its acks; stop() awaits this task instead.
            self._inflight = asyncio.create_task(self._process(batch))
            try:
                await asyncio.shield(self._inflight)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("shard %s: batch failed; the actor stops", self.shard)
                raise
            finally:
                if self._mailbox.empty() and (self._inflight is None or self._inflight.done()):
                    self._idle.set()

    async def _process(self, batch: list[Envelope], *, part: bool = False) -> None:
        """Decide, commit, ack and answer a batch, isolating poison. `part`: the batch is a
        piece of one split message, which is acked as a whole by the caller."""
        try:
            await self._process_batch(batch)
        except PoisonBatch as exc:
            if len(batch) > 1:
                # One bad command must not block its shard: split until it stands alone.
                half = len(batch) // 2
                await self._process(batch[:half], part=part)
                await self._process(batch[half:], part=part)
                return
            envelope = batch[0]
            if len(envelope.commands) == 1:
                await self._dead_letter(envelope, exc, part=part)
                return
            # One message may carry commands of many events (a gateway coalesces per
            # bucket): split its commands too, so only the bad command is dead-lettered;
            # the message is acked once all its parts are done.
            half = len(envelope.commands) // 2
            for commands in (envelope.commands[:half], envelope.commands[half:]):
                await self._process([Envelope(commands, None, envelope.redelivered)],
                                    part=True)
            if not part:
                await self._outlet.ack([envelope])

    async def _dead_letter(self, envelope: Envelope, exc: PoisonBatch, *, part: bool) -> None:
        log.error("shard %s: dead-lettering a command no write accepts: %s", self.shard, exc)
        self._metrics.dead_letters.inc(len(envelope.commands))
        if not part:
            await self._outlet.dead_letter(envelope)
            return
        # A piece of a split message has no delivery of its own to reject: it is recorded
        # as rejected here, and answered.
        await self._outlet.send_outcomes(await self._store.dead_lettered(envelope.commands))

    async def _process_batch(self, batch: list[Envelope]) -> None:
        commands: list[tuple[Command, bool]] = [
            (cmd, envelope.redelivered) for envelope in batch for cmd in envelope.commands]
        forwarded: list[Command] = []
        verify_all = False
        pins: dict[tuple[UserId, str], KeyPin] = {}
        attempt = 0
        while True:
            try:
                decided = await self._decide(commands, verify_all, pins)
                if decided.write.events:
                    started = time.perf_counter()
                    await self._store.commit(decided.write)
                    self._m_commit.observe(time.perf_counter() - started)
                break
            except StaleOwner as exc:
                self.fenced += 1
                self._metrics.fencing_conflicts.inc()
                log.info("shard %s: fenced out of %s; forwarding", self.shard, exc.event_ids)
                # Decisions of the rolled-back batch mutated these ledgers: reload them.
                self._forget({c.event_id for c, _ in commands})
                self._disarm(exc.event_ids)
                forwarded += [c for c, _ in commands if c.event_id in exc.event_ids]
                commands = [(c, r) for c, r in commands if c.event_id not in exc.event_ids]
            except PoisonBatch:
                self._forget({c.event_id for c, _ in commands})
                raise
            except KeyConflict as exc:
                # Keys this actor did not know were pinned (another shard's event, or a
                # gateway's 202): decide the batch again knowing them. Nothing was written.
                self._forget({c.event_id for c, _ in commands})
                pins.update({k: KeyPin(*v) for k, v in exc.pins.items()})

            except DuplicateWrite as exc:
                # Something in the batch was decided before: check everything and redecide.
                log.warning("shard %s: %s; rechecking the batch", self.shard, exc)
                self._forget({c.event_id for c, _ in commands})
                verify_all = True
            except Unavailable as exc:
                # The commit may or may not have happened: reload state, and check every
                # command against the database before deciding it again.
                self._forget({c.event_id for c, _ in commands})
                verify_all = True
                self._metrics.db_retries.inc()
                delay = _RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)]
                attempt += 1
                log.warning("shard %s: %s; retrying batch in %.2fs", self.shard, exc, delay)
                await asyncio.sleep(delay)
            except Exception as exc:
                # A value nothing expected (a bug, or data the reader cannot take) while
                # deciding or writing: nothing was committed. Treated as poison, it is split
                # down to the one envelope that causes it, which is dead-lettered; the shard
                # and its other events go on.
                log.exception("shard %s: unexpected %s while deciding", self.shard,
                              type(exc).__name__)
                self._forget({c.event_id for c, _ in commands})
                raise PoisonBatch(f"unexpected {type(exc).__name__}: {exc}") from exc
        self._m_batch.observe(len(commands))
        self._doors.count(decided.outcomes)
        self._metrics.observe_holds(str(self.shard), decided.write, self._clock(),
                                    self._ledgers.values())
        self._metrics.observe_waitlists(str(self.shard), decided.write, self._ledgers)
        self._metrics.observe_rooms(str(self.shard), decided.write.rooms, self._clock(),
                                    *self._rooms.counts())
        if forwarded:
            await self._outlet.forward(forwarded)
        await self._outlet.ack(batch)
        if decided.write.rooms.updates:  # before the answers: a join's gateway knows it then
            await self._outlet.send_rooms(decided.write.rooms.updates)
        if decided.outcomes:
            await self._outlet.send_outcomes(decided.outcomes)
        updates = [StockUpdate(e, ledger.available, (ledger.booked, ledger.epoch))
                   for e in decided.touched if (ledger := self._ledgers.get(e)) is not None]
        if updates:
            await self._outlet.send_stock(updates)

    def _forget(self, event_ids: set[EventId]) -> None:
        for event_id in event_ids:
            self._ledgers.pop(event_id, None)
        self._doors.forget(event_ids)
        self._rooms.forget(event_ids)

    async def _decide(self, commands: Sequence[tuple[Command, bool]], verify_all: bool,
                      pins: dict[tuple[UserId, str], KeyPin]) -> _Decided:
        # An edited event is reloaded before anything of this batch is decided for it.
        self._forget({c.event_id for c, _ in commands
                      if isinstance(c, WakeCommand) and c.edited})
        missing = {c.event_id for c, _ in commands} - self._ledgers.keys()
        if missing:
            claimed = await self._store.claim(missing)
            self._ledgers.update(claimed)
            for fresh in claimed.values():
                for hold in fresh.holds.values():
                    self._arm(fresh.event_id, hold)
            await self._rooms.load(self._store, claimed)
        # A replay (a known key under a new booking id) is decided as the booking its key
        # is pinned to: that one's outcome is looked up with the redeliveries.
        replayed = [self._replayed(c, pins) for c, _ in commands
                    if isinstance(c, BookCommand) and c.idempotency_key is not None]
        to_check = [c.booking_id for c, redelivered in commands
                    if isinstance(c, CancelCommand | PayCommand)
                    or (isinstance(c, BookCommand)
                        and (verify_all or redelivered or c.check_existing))]
        to_check += [pin.booking_id for pin in replayed if pin is not None]
        prior = await self._store.existing(to_check) if to_check else {}
        await self._doors.load(self._store, (c for c, _ in commands), prior)
        entries = await self._stored_entries(commands, verify_all)
        now = self._clock()
        write = BatchWrite()
        outcomes: list[Outcome] = []
        decided: dict[BookingId, Outcome] = {}
        touched: set[EventId] = set()
        # Deadlines first: a hold whose time has come by this batch's clock is over, whatever
        # the batch brings for it (a payment decided after the deadline is refused).
        for event_id in sorted({c.event_id for c, _ in commands}):
            owned = self._ledgers.get(event_id)
            if owned is not None:
                for hold in domain.due_holds(owned, now):
                    expired = self._end_hold(owned, hold, write, expired=True)
                    prior[hold.booking_id] = expired
                    outcomes.append(replace(
                        expired, reply_to=self._reply_to.pop(hold.booking_id, "")))
                    touched.add(event_id)
                # Seats the expiries (or a reload after an edit) returned go to the list.
                self._offer_returned(owned, write, outcomes, touched, now)
        for cmd, _ in commands:
            ledger = self._ledgers.get(cmd.event_id)
            if isinstance(cmd, WakeCommand):
                continue  # its work, the deadlines above, is done
            if isinstance(cmd, CheckinCommand):
                outcome = self._doors.check_in(cmd, ledger, write, now)
            elif isinstance(cmd, JoinCommand | LeaveCommand):
                outcome = self._waitlist(cmd, ledger, entries, write, now)
            elif isinstance(cmd, QueueCommand):
                outcome = self._rooms.join(cmd, ledger, now)
            elif isinstance(cmd, ExtendCommand):
                outcome = self._extend(cmd, ledger, write, now)
            elif isinstance(cmd, EventCancelCommand):
                outcome = self._cancel_event(cmd, ledger, write, outcomes, now)
                touched.add(cmd.event_id)
            elif isinstance(cmd, PayCommand):
                outcome = self._pay(cmd, ledger, prior, write)
                if outcome.status is BookingStatus.CONFIRMED and ledger is not None:
                    touched.add(ledger.event_id)
            elif isinstance(cmd, BookCommand):
                outcome = self._book_once(cmd, ledger, pins, decided, prior, write, now)
                if ledger is not None and outcome.booking_id not in prior:
                    touched.add(ledger.event_id)
            else:
                outcome = self._cancel(cmd, ledger, prior.get(cmd.booking_id), write, now)
                if outcome.status is BookingStatus.CANCELLED and ledger is not None:
                    prior[cmd.booking_id] = outcome  # a second cancel in this batch is refused
                    touched.add(ledger.event_id)
                outcome = replace(outcome, answers=cmd.cancel_id)  # not kept in `prior`
            outcomes.append(replace(outcome, reply_to=cmd.reply_to))
            if ledger is not None:
                # Seats this decision returned (a cancel) go to the list before anyone else.
                self._offer_returned(ledger, write, outcomes, touched, now)
        # Warnings last: of the holds still open once the batch's payments, cancels and
        # extensions are decided, so none is warned in the batch that ends or extends it
        # (and no command's answer is preceded by a warning of its booking).
        for event_id in sorted({c.event_id for c, _ in commands}):
            owned = self._ledgers.get(event_id)
            if owned is None:
                continue
            for hold in domain.due_warnings(owned, now):
                warned = domain.warn(owned, hold.booking_id)
                write.warned(warned, owned)
                outcomes.append(replace(
                    self._hold_outcome(owned, warned, BookingStatus.HELD), warning=True,
                    reply_to=self._reply_to.get(hold.booking_id, "")))
        # The rooms move on what the batch decided (admissions used, seats returned).
        self._rooms.settle((self._ledgers[e] for e in sorted({c.event_id for c, _ in commands})
                            if e in self._ledgers), write, now)
        return _Decided(write, outcomes, touched)

    def _replayed(self, cmd: BookCommand, pins: dict[tuple[UserId, str], KeyPin]
                  ) -> KeyPin | None:
        """The pin of this command's key if it points at another booking (a replay)."""
        assert cmd.idempotency_key is not None
        ledger = self._ledgers.get(cmd.event_id)
        slot = (cmd.user_id, cmd.idempotency_key)
        pin = pins.get(slot) or (ledger.keys.get(slot) if ledger is not None else None)
        return pin if pin is not None and pin.booking_id != cmd.booking_id else None

    def _book_once(self, cmd: BookCommand, ledger: EventLedger | None,
                   pins: dict[tuple[UserId, str], KeyPin], decided: dict[BookingId, Outcome],
                   prior: dict[BookingId, Outcome], write: BatchWrite,
                   now: datetime) -> Outcome:
        """Decide a booking command at most once per booking id and per key (I4)."""
        booking_id = cmd.booking_id
        # Pinned before, or earlier in this very batch (concurrent copies of one request)?
        pin = self._replayed(cmd, pins) if cmd.idempotency_key is not None else None
        if pin is not None:
            if (pin.event_id, pin.quantity) != (cmd.event_id, cmd.quantity):
                return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id,
                               BookingStatus.REJECTED, cmd.quantity, IdempotencyMismatch.code)
            booking_id = pin.booking_id
        earlier = decided.get(booking_id) or prior.get(booking_id)
        if earlier is None:
            if ledger is None:
                earlier = Outcome(booking_id, cmd.event_id, cmd.user_id,
                                  BookingStatus.REJECTED, cmd.quantity, EventUnknown.code)
            else:
                earlier = self._book(replace(cmd, booking_id=booking_id), ledger, write, now)
                if cmd.idempotency_key is not None and pin is None:
                    new_pin = KeyPin(booking_id, cmd.event_id, cmd.quantity)
                    ledger.keys[(cmd.user_id, cmd.idempotency_key)] = new_pin
                    write.pin(cmd.user_id, cmd.idempotency_key, new_pin)
            decided[booking_id] = earlier
        if booking_id != cmd.booking_id:
            return replace(earlier, answers=cmd.booking_id)
        return earlier

    def _book(self, cmd: BookCommand, ledger: EventLedger, write: BatchWrite,
              now: datetime) -> Outcome:
        # An event with a waiting room sells to admitted buyers only (the gateway refused
        # the others from its copy already; this is the word that counts).
        reason = (self._rooms.refuse(cmd.user_id, ledger, now)
                  or domain.decide_booking(ledger, cmd.user_id, cmd.quantity, now))
        if reason is not None:
            write.rejected(cmd.booking_id, ledger, cmd.user_id, cmd.quantity, reason)
            return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id, BookingStatus.REJECTED,
                           cmd.quantity, reason)
        self._rooms.used(ledger, cmd.user_id, now)  # accepted: the admission is spent
        if ledger.paid:
            hold = domain.hold(ledger, cmd.booking_id, cmd.user_id, cmd.quantity, now)
            write.hold_taken(hold, ledger)
            self._arm(ledger.event_id, hold)
            self._reply_to[hold.booking_id] = cmd.reply_to
            return self._hold_outcome(ledger, hold, BookingStatus.HELD)
        domain.confirm(ledger, cmd.user_id, cmd.quantity)
        tickets = new_tickets(cmd.quantity)
        write.confirmed(cmd.booking_id, ledger, cmd.user_id, tickets)
        self._doors.issued(ledger.event_id, cmd.booking_id, tickets)
        return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id, BookingStatus.CONFIRMED,
                       cmd.quantity, None, tickets)

    @staticmethod
    def _hold_outcome(ledger: EventLedger, hold: Hold, status: BookingStatus,
                      tickets: tuple[TicketInfo, ...] = ()) -> Outcome:
        return Outcome(hold.booking_id, ledger.event_id, hold.user_id, status, hold.quantity,
                       None, tickets, expires_at=hold.expires_at,
                       amount_cents=hold.amount_cents, currency=ledger.currency,
                       offer=hold.offer, extended=hold.extended, warn_at=hold.warn_at)

    def _end_hold(self, ledger: EventLedger, hold: Hold, write: BatchWrite, *,
                  expired: bool) -> Outcome:
        """A hold expired or cancelled: seats back on sale."""
        domain.drop_hold(ledger, hold.booking_id)
        write.hold_ended(hold, ledger, expired=expired)
        return self._hold_outcome(
            ledger, hold, BookingStatus.EXPIRED if expired else BookingStatus.CANCELLED)

    def _pay(self, cmd: PayCommand, ledger: EventLedger | None,
             prior: dict[BookingId, Outcome], write: BatchWrite) -> Outcome:
        """Confirm a hold its buyer has paid for, if it is still open. The outcome answers
        the payment (`answers` is its id): anything but `confirmed` means refund it."""
        hold = ledger.holds.get(cmd.booking_id) if ledger is not None else None
        if ledger is not None and hold is not None and hold.user_id == cmd.user_id:
            domain.settle(ledger, hold.booking_id)
            tickets = new_tickets(hold.quantity)
            write.hold_paid(hold, ledger, tickets)
            self._doors.issued(ledger.event_id, hold.booking_id, tickets)
            self._reply_to.pop(hold.booking_id, None)
            outcome = self._hold_outcome(ledger, hold, BookingStatus.CONFIRMED, tickets)
            prior[cmd.booking_id] = outcome
            return replace(outcome, answers=cmd.payment_id)
        earlier = prior.get(cmd.booking_id)
        if earlier is not None and earlier.user_id == cmd.user_id:
            # Expired or cancelled (refund), or confirmed already: a redelivery of this very
            # payment's command (a booking takes one successful charge, see checkout).
            return replace(earlier, answers=cmd.payment_id)
        return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id, BookingStatus.REJECTED, 0,
                       NotPayable.code, answers=cmd.payment_id)

    def _cancel(self, cmd: CancelCommand, ledger: EventLedger | None, prior: Outcome | None,
                write: BatchWrite, now: datetime) -> Outcome:
        hold = ledger.holds.get(cmd.booking_id) if ledger is not None else None
        if ledger is not None and hold is not None and hold.user_id == cmd.user_id:
            self._reply_to.pop(hold.booking_id, None)
            return self._end_hold(ledger, hold, write, expired=False)
        if (prior is None or ledger is None or prior.user_id != cmd.user_id
                or prior.status is not BookingStatus.CONFIRMED):
            status = prior.status if prior is not None else BookingStatus.REJECTED
            quantity = prior.quantity if prior is not None else 0
            return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id, status, quantity,
                           NotCancellable.code)
        if self._doors.used(ledger.event_id, cmd.booking_id):
            # Decided here, in order with the event's check-ins: one of them came first.
            return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id, prior.status,
                           prior.quantity, CheckedIn.code, prior.tickets)
        if prior.amount_cents and not domain.refundable(ledger, now):
            # Paid, and past the event's refund window (decided by this batch's clock).
            return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id, prior.status,
                           prior.quantity, RefundWindowClosed.code, prior.tickets)
        domain.release(ledger, prior.user_id, prior.quantity)
        write.cancel(cmd.booking_id, ledger, prior.quantity)
        if prior.amount_cents:
            write.refunds.append(cmd.booking_id)  # its payment becomes a refund owed
        self._doors.voided(ledger.event_id, cmd.booking_id)
        return replace(prior, status=BookingStatus.CANCELLED, reason=None,
                       tickets=void_tickets(prior.tickets), reply_to="")

    def _extend(self, cmd: ExtendCommand, ledger: EventLedger | None, write: BatchWrite,
                now: datetime) -> Outcome:
        """More time for an open hold, once (WCAG 2.2.1); its new deadline is armed."""
        reason = (NotExtendable.code if ledger is None
                  else domain.decide_extension(ledger, cmd.booking_id, cmd.user_id, now))
        if ledger is None or reason is not None:
            return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id, BookingStatus.REJECTED,
                           0, reason, answers=cmd.extension_id, extension=True)
        longer = domain.extend(ledger, cmd.booking_id)
        write.extended(longer, ledger)
        self._arm(ledger.event_id, longer)
        return replace(self._hold_outcome(ledger, longer, BookingStatus.HELD),
                       answers=cmd.extension_id, extension=True)

    def _cancel_event(self, cmd: EventCancelCommand, ledger: EventLedger | None,
                      write: BatchWrite, outcomes: list[Outcome], now: datetime) -> Outcome:
        """The organizer cancels the whole event: its holds and offers end (pushed to their
        buyers), every booking goes void with its seats, the waiting list and the waiting
        room close (admissions not used are void). Once."""
        def answer(status: BookingStatus, seats: int, reason: str | None = None) -> Outcome:
            return Outcome(cmd.booking_id, cmd.event_id, cmd.user_id, status, seats, reason,
                           event_cancel=True)

        if ledger is None:
            return answer(BookingStatus.REJECTED, 0, EventUnknown.code)
        if ledger.cancelled:  # a retry, or a redelivery of the cancel that did it
            return answer(BookingStatus.CANCELLED, 0, EventCancelled.code)
        if self._doors.opened(ledger.event_id):  # under way: a ticket was checked in
            return answer(BookingStatus.REJECTED, 0, CheckedIn.code)
        for hold in list(ledger.holds.values()):
            ended = self._end_hold(ledger, hold, write, expired=False)
            outcomes.append(replace(ended, reply_to=self._reply_to.pop(hold.booking_id, "")))
        for entry in ledger.waitlist:
            self._reply_to.pop(entry.id, None)
        sold, _ = domain.cancel_event(ledger)
        write.event_cancelled(ledger, sold)
        self._doors.closed(ledger.event_id)
        self._rooms.cancel(ledger, now)
        return answer(BookingStatus.CANCELLED, sold)

    # -- the waiting list ----------------------------------------------------------------

    async def _stored_entries(self, commands: Sequence[tuple[Command, bool]],
                              verify_all: bool) -> dict[BookingId, str]:
        """Stored statuses of the entries that joins which may have been decided before
        (redelivered, or a batch rechecked) would create: memory knows only waiting ones."""
        ids = [c.booking_id for c, redelivered in commands
               if isinstance(c, JoinCommand) and (verify_all or redelivered)]
        return await self._store.entry_statuses(ids) if ids else {}

    def _waitlist(self, cmd: WaitlistCommand, ledger: EventLedger | None,
                  stored: dict[BookingId, str], write: BatchWrite, now: datetime) -> Outcome:
        """Decide a join or a leave, in order with the event's other commands."""
        def answer(status: BookingStatus, entry_id: BookingId, quantity: int,
                   reason: str | None = None, position: int | None = None) -> Outcome:
            return Outcome(entry_id, cmd.event_id, cmd.user_id, status, quantity, reason,
                           answers=cmd.booking_id, waitlist=True, position=position)

        quantity = cmd.quantity if isinstance(cmd, JoinCommand) else 0
        if ledger is None:
            return answer(BookingStatus.REJECTED, cmd.booking_id, quantity, EventUnknown.code)
        if isinstance(cmd, LeaveCommand):
            left = waitlist_rules.leave(ledger, cmd.user_id)
            if left is None:
                return answer(BookingStatus.REJECTED, cmd.booking_id, 0, NotWaiting.code)
            write.waitlist.left.append(left.id)
            write.touch(ledger)
            self._reply_to.pop(left.id, None)
            return answer(BookingStatus.LEFT, left.id, left.quantity)
        entry = ledger.waitlist.get(cmd.user_id)
        if entry is not None:  # joined already: the same entry, wherever it stands now
            return answer(BookingStatus.WAITING, entry.id, entry.quantity,
                          position=ledger.waitlist.position(cmd.user_id))
        offer = waitlist_rules.open_offer(ledger, cmd.user_id)
        if offer is not None:  # served already: its open offer
            return replace(self._hold_outcome(ledger, offer, BookingStatus.HELD),
                           answers=cmd.booking_id, waitlist=True)
        if cmd.booking_id in stored:  # this very join, decided before and done with since
            return answer(BookingStatus.HELD if stored[cmd.booking_id] == "offered"
                          else BookingStatus.LEFT, cmd.booking_id, quantity)
        reason = waitlist_rules.decide_join(ledger, cmd.user_id, quantity, now)
        if reason is not None:
            return answer(BookingStatus.REJECTED, cmd.booking_id, quantity, reason)
        joined = waitlist_rules.join(ledger, cmd.booking_id, cmd.user_id, quantity)
        write.waitlist.join(joined, ledger.event_id)
        write.touch(ledger)
        self._reply_to[joined.id] = cmd.reply_to  # where its offer will be pushed
        return answer(BookingStatus.WAITING, joined.id, quantity,
                      position=ledger.waitlist.position(cmd.user_id))

    def _offer_returned(self, ledger: EventLedger, write: BatchWrite, outcomes: list[Outcome],
                        touched: set[EventId], now: datetime) -> None:
        """Offer the seats on sale to the waiting list, first fit first, in the decision
        that returned them; each offer is a hold on its own deadline, pushed to its owner."""
        if not ledger.waitlist or ledger.available <= 0:
            return
        for offer in waitlist_rules.offer_returned(ledger, now):
            write.hold_taken(offer, ledger)
            write.waitlist.offered.append(offer.booking_id)
            self._arm(ledger.event_id, offer)
            outcomes.append(replace(self._hold_outcome(ledger, offer, BookingStatus.HELD),
                                    reply_to=self._reply_to.get(offer.booking_id, "")))
            touched.add(ledger.event_id)
