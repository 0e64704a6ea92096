"""`queued` (the default): commands go through the transport to the event's shard actor; the
gateway waits for the outcome within a budget, else answers 202 with a Location.

It also keeps this gateway's view of seats left, fed by the actors' stock broadcasts, so that
once an event is sold out the flood of hopeless requests is answered here, with no hop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

import asyncpg

from engine.errors import (
    CheckedIn,
    DeliveryUncertain,
    EngineError,
    EventUnknown,
    IdempotencyMismatch,
    Lost,
    NotCancellable,
    NotFound,
    RefundWindowClosed,
    SoldOut,
    Unavailable,
    rejection,
)
from engine.messages import (
    BookCommand,
    CancelCommand,
    CheckinCommand,
    EventCancelCommand,
    ExtendCommand,
    JoinCommand,
    Outcome,
    PayCommand,
    QueueCommand,
    StockUpdate,
    WaitlistCommand,
)
from engine.storage import bookings
from engine.storage.database import translate_db_errors
from engine.strategies import BookingRequest, Pending
from engine.transport.base import Transport
from engine.types import BookingId, BookingStatus, EventId, UserId

log = logging.getLogger(__name__)



def _say_if_it_failed(task: asyncio.Task[None]) -> None:
    """A re-send that died of an error leaves its command neither delivered nor recorded
    lost: say so loudly (the task's own exception would surface only when collected)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("a re-send died: its command may be undecided",
                  exc_info=task.exception())

class StockView:
    """Seats left per event as this gateway last heard; a hint, never the authority.

    For a sold-out event it also holds who has a booking there (bounded by capacity, loaded
    once at sell-out): everybody else can be answered "sold out" with no I/O at all, even
    with an Idempotency-Key, since no retry of theirs can have an outcome worth replaying.
    """

    def __init__(self) -> None:
        self._available: dict[EventId, int] = {}
        self._holders: dict[EventId, frozenset[UserId]] = {}
        #: Bumped whenever what this view knows of an event may have been invalidated, so a
        #: holder load that started before cannot install a stale answer.
        self._generation: dict[EventId, int] = defaultdict(int)
        self._generation_all = 0

    def update(self, updates: Sequence[StockUpdate]) -> None:
        """Apply a broadcast from a shard actor."""
        for u in updates:
            if u.available != 0 and self._available.get(u.event_id) == 0:
                self._holders.pop(u.event_id, None)  # reopened: they may change again
                self._generation[u.event_id] += 1
            self._available[u.event_id] = u.available

    def seed(self, event_id: EventId, available: int) -> None:
        """Learn an event's stock from a database read, unless a broadcast came first."""
        self._available.setdefault(event_id, available)

    def get(self, event_id: EventId) -> int | None:
        """Seats left, if known."""
        return self._available.get(event_id)

    def forget_all(self) -> None:
        """Broadcasts may have been missed (the link to the broker dropped): trust nothing
        until the database or a new broadcast says otherwise — never a false "sold out"."""
        self._available.clear()
        self._holders.clear()
        self._generation_all += 1

    def generation(self, event_id: EventId) -> tuple[int, int]:
        """A token that changes whenever the event's sold-out view may have gone stale."""
        return self._generation_all, self._generation[event_id]

    def holders(self, event_id: EventId) -> frozenset[UserId] | None:
        """Who holds a booking on this sold-out event, if loaded."""
        return self._holders.get(event_id)

    def set_holders(self, event_id: EventId, users: frozenset[UserId],
                    loaded_at: tuple[int, int]) -> None:
        """Install a holder load started at generation `loaded_at`, if still current."""
        if loaded_at == self.generation(event_id) and self._available.get(event_id) == 0:
            self._holders[event_id] = users


def _same_request(prior: Outcome, req: BookingRequest) -> Outcome:
    if (prior.event_id, prior.quantity) != (req.event_id, req.quantity):
        raise IdempotencyMismatch("this Idempotency-Key was used for another request")
    return prior


#: First pause between re-sends of a command whose delivery is uncertain; it doubles up to
#: REDELIVER_MAX_PAUSE, so a broker that is down is asked about once every few seconds.
REDELIVER_FIRST_PAUSE = 0.2
REDELIVER_MAX_PAUSE = 5.0


#: The commands a gateway sends and waits for.
_Sent = (BookCommand | CancelCommand | PayCommand | CheckinCommand | WaitlistCommand
         | EventCancelCommand | ExtendCommand | QueueCommand)


class QueuedBooker:
    """Send to the shard actor, wait for its outcome."""

    def __init__(self, pool: asyncpg.Pool, transport: Transport, stock: StockView, *,
                 wait_seconds: float, lost_after: float,
                 announce: Callable[[Outcome], None]) -> None:
        self._pool = pool
        self._transport = transport
        self._stock = stock
        self._wait = wait_seconds
        self._lost_after = lost_after
        self._announce = announce
        self._waiters: dict[BookingId, list[asyncio.Future[Outcome]]] = defaultdict(list)
        #: Waits under another id than the booking's that are its owner's request (a
        #: cancellation): the owner has its answer from there, as from a booking's own wait.
        self._owners_waits: set[BookingId] = set()
        self._redeliveries: set[asyncio.Task[None]] = set()
        self._holder_loads: dict[EventId, asyncio.Task[None]] = {}

    async def stop(self) -> None:
        """Stop re-sending (shutdown). What was not confirmed by now stays pending: it may
        still be in the broker, so it cannot be called lost."""
        tasks = list(self._redeliveries) + list(self._holder_loads.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tasks:
            log.warning("stopped with %d commands of unknown delivery still pending", len(tasks))

    def resolve(self, outcome: Outcome) -> bool:
        """Wake the requests on this gateway waiting for this booking's outcome (and the one
        whose command was a replay of it, or the request it `answers`). A hold's warning
        answers no request. True when its owner's request took it as its answer (its owner
        has it from there): one for the booking itself, or its cancellation; a payment's
        answer, say, is awaited by whoever sent the payment (a webhook)."""
        if outcome.warning:
            return False
        answered = False
        for booking_id in (outcome.booking_id, outcome.answers):
            if booking_id is None:
                continue
            for future in self._waiters.pop(booking_id, ()):
                if not future.done():
                    future.set_result(outcome)
                    answered = answered or booking_id == outcome.booking_id or (
                        booking_id in self._owners_waits)
        return answered

    async def confirm_payment(self, booking_id: BookingId, event_id: EventId,
                              user_id: UserId, payment_id: uuid.UUID) -> Outcome | None:
        """Ask a held booking's actor to confirm it with a payment the provider took; its
        answer (`confirmed`, or why not: refund), or None if not within the wait."""
        return await self._send_and_wait(PayCommand(booking_id, event_id, user_id, payment_id,
                                                    self._transport.reply_to))

    async def check_in(self, event_id: EventId, user_id: UserId, code: str) -> Outcome | None:
        """Ask the event's actor to check the ticket with this code in; its answer (a
        check-in outcome), or None if not within the wait."""
        return await self._send_and_wait(CheckinCommand(uuid.uuid4(), event_id, user_id, code,
                                                        self._transport.reply_to))

    async def extend(self, booking_id: BookingId, event_id: EventId,
                     user_id: UserId) -> Outcome | None:
        """Ask a held booking's actor for more time on it; its answer (the hold with its new
        deadline, or the refusal), or None if not within the wait."""
        return await self._send_and_wait(ExtendCommand(booking_id, event_id, user_id,
                                                       uuid.uuid4(), self._transport.reply_to))

    async def cancel_event(self, event_id: EventId, user_id: UserId) -> Outcome | None:
        """Ask the event's actor to cancel it whole (the caller checked who may); its answer,
        or None if not within the wait (it is decided anyway, once)."""
        outcome = await self._send_and_wait(EventCancelCommand(
            uuid.uuid4(), event_id, user_id, self._transport.reply_to))
        if outcome is not None and outcome.reason == EventUnknown.code:
            raise NotFound(f"no event {event_id}")
        if outcome is not None and outcome.reason == CheckedIn.code:
            raise CheckedIn("a ticket of this event was checked in: it is under way")
        if outcome is not None and outcome.status is BookingStatus.REJECTED:
            raise rejection(outcome.reason or "rejected")  # dead-lettered: the event stands
        return outcome

    async def waitlist(self, command: WaitlistCommand | QueueCommand) -> Outcome | None:
        """Send a waiting-list join or leave, or a waiting-room join, to the event's actor;
        its answer, or None if not within the wait (it is decided anyway, once)."""
        return await self._send_and_wait(command)

    async def _send_and_wait(self, command: _Sent) -> Outcome | None:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        # A payment's (an extension's, a cancellation's) answer names it (`answers`): an
        # expiry, warning, cancellation or late "confirmed" of the same booking must not be
        # taken for it.
        wait_id = (command.payment_id if isinstance(command, PayCommand)
                   else command.extension_id if isinstance(command, ExtendCommand)
                   else command.cancel_id or command.booking_id
                   if isinstance(command, CancelCommand) else command.booking_id)
        if isinstance(command, CancelCommand):
            self._owners_waits.add(wait_id)
        # Registered before sending: the outcome can arrive before send() returns.
        waiters = self._waiters[wait_id]
        waiters.append(future)
        try:
            await self._transport.send([command])
            return await asyncio.wait_for(asyncio.shield(future), self._wait)
        except DeliveryUncertain as exc:
            # It may be decided yet: never "failed". Answer pending and make sure it arrives.
            log.warning("booking %s: %s; re-sending", command.booking_id, exc.message)
            if isinstance(command, BookCommand):  # the actor looks its id up first
                command = replace(command, check_existing=True)
            task = asyncio.create_task(self._redeliver(command))
            self._redeliveries.add(task)
            task.add_done_callback(self._redeliveries.discard)
            task.add_done_callback(_say_if_it_failed)
            return None
        except TimeoutError:
            return None
        finally:
            if future in waiters:
                waiters.remove(future)
            if not waiters and self._waiters.get(wait_id) is waiters:
                del self._waiters[wait_id]
            if wait_id not in self._waiters:
                self._owners_waits.discard(wait_id)

    async def _redeliver(self, command: _Sent) -> None:
        """Re-send until the broker confirms (the actor decides a booking id once, so extra
        copies are harmless); past the deadline a booking is recorded as lost, and that
        record outranks any late delivery of it (its id is taken)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lost_after
        pause = REDELIVER_FIRST_PAUSE
        while loop.time() < deadline:
            try:
                await self._transport.send([command])
                return
            except (Unavailable, DeliveryUncertain):
                # A backoff between attempts, not a synchronisation.
                await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
                pause = min(pause * 2, REDELIVER_MAX_PAUSE)
        if isinstance(command, CancelCommand):
            log.error("cancellation of %s never confirmed: the booking stands",
                      command.booking_id)
            return
        if isinstance(command, EventCancelCommand):
            log.error("cancel of event %s never confirmed: it stands", command.event_id)
            return
        if isinstance(command, ExtendCommand):
            log.error("extension of %s never confirmed: the hold keeps its deadline",
                      command.booking_id)
            return
        if isinstance(command, CheckinCommand):
            log.error("check-in %s of %r never confirmed: the ticket stays as it was",
                      command.checkin_id, command.code)
            return
        if isinstance(command, PayCommand):
            log.error("payment %s of %s never confirmed: checkout recovery settles it",
                      command.payment_id, command.booking_id)
            return
        if isinstance(command, QueueCommand):
            log.error("waiting-room join of user %s on event %s never confirmed",
                      command.user_id, command.event_id)
            return
        if not isinstance(command, BookCommand):  # a waiting-list request: nothing to record
            log.error("waiting-list %s of user %s on event %s never confirmed",
                      "join" if isinstance(command, JoinCommand) else "leave",
                      command.user_id, command.event_id)
            return
        log.error("booking %s never confirmed within %.0fs: recorded as lost",
                  command.booking_id, self._lost_after)
        while True:  # until the database takes it, or stop() cancels
            try:
                async with translate_db_errors():
                    outcome = await bookings.record_rejection(
                        self._pool, command.booking_id, command.event_id, command.user_id,
                        command.quantity, Lost.code)
                break
            except Unavailable:
                await asyncio.sleep(REDELIVER_MAX_PAUSE)
        self._announce(replace(outcome, reply_to=command.reply_to))

    def _load_holders(self, event_id: EventId) -> None:
        """Start loading who holds a booking on a sold-out event (once; in the background)."""
        if event_id in self._holder_loads:
            return

        async def load() -> None:
            started = self._stock.generation(event_id)
            try:
                async with translate_db_errors():
                    users = await bookings.holders(self._pool, event_id)
            except EngineError as exc:  # the database is away: keep asking it per request
                log.warning("holders of event %s not loaded: %s", event_id, exc.message)
                return
            finally:
                del self._holder_loads[event_id]
            self._stock.set_holders(event_id, users, started)

        self._holder_loads[event_id] = asyncio.create_task(load())

    async def _sold_out(self, req: BookingRequest) -> Outcome:
        """Answer a request for a sold-out event, here, with no hop: the surge's hopeless
        majority. A refusal here was never accepted, so it leaves no record."""
        if req.idempotency_key is None:
            raise SoldOut("sold out")
        holders = self._stock.holders(req.event_id)
        if holders is None:
            self._load_holders(req.event_id)
        elif req.user_id not in holders:
            # Holds nothing here: no retry of theirs can have an outcome to replay.
            raise SoldOut("sold out")
        # A retry of a booking confirmed before the sell-out must hear "confirmed" again
        # (I4): one primary-key read, a second to fetch the outcome when the key exists.
        async with translate_db_errors(read=True):
            prior = await bookings.outcome_for_key(self._pool, req.user_id,
                                                   req.idempotency_key)
        if prior is not None:
            return _same_request(prior, req)
        raise SoldOut("sold out")

    async def book(self, req: BookingRequest) -> Outcome | Pending:
        """Answer sold-out locally; else send and wait for the decision.

        No database round trip on the way: a keyed request carries its key to the actor,
        which answers a replay from memory and pins a new key in the batch that decides it.
        """
        if self._stock.get(req.event_id) == 0:
            return await self._sold_out(req)
        booking_id = uuid.uuid4()
        command = BookCommand(booking_id, req.event_id, req.user_id, req.quantity,
                              self._transport.reply_to, idempotency_key=req.idempotency_key)
        try:
            outcome = await self._send_and_wait(command)
        except Unavailable as exc:
            # "Not done", and checkable: the booking id this request would have had is named,
            # and no booking will ever have it (nothing else knows it).
            raise Unavailable(exc.message, retry_after=exc.retry_after,
                              booking_id=str(booking_id)) from exc
        if outcome is not None:
            if outcome.reason == IdempotencyMismatch.code:
                raise IdempotencyMismatch("this Idempotency-Key was used for another request")
            return outcome
        return await self._pending(req, booking_id)

    async def _pending(self, req: BookingRequest, booking_id: BookingId) -> Outcome | Pending:
        """Undecided within the wait: leave a trace so GET /api/bookings/{id} answers
        "pending" to its owner (the slow path; one write). A keyed request pins its key to
        this booking id here, or learns the booking it was pinned to first.

        The command is out by now (confirmed, or maybe kept and being re-sent) and its shard
        will decide it, so a database that cannot take the trace must not turn this into
        "503, not done": the answer is still pending, and the booking's own row answers its
        owner once decided (until then a read finds nothing). The key is then pinned by the
        actor, in the batch that decides it, as on the fast path."""
        key = req.idempotency_key or f"auto:{booking_id}"
        try:
            async with translate_db_errors():
                claim = await bookings.claim_key(self._pool, req.user_id, key, req.event_id,
                                                 req.quantity, booking_id)
        except Unavailable as exc:
            log.warning("booking %s: pending without its trace (%s)", booking_id, exc.message)
            return Pending(booking_id, req.event_id, req.quantity)
        if (claim.event_id, claim.quantity) != (req.event_id, req.quantity):
            raise IdempotencyMismatch("this Idempotency-Key was used for another request")
        if not claim.created:
            try:
                async with translate_db_errors():
                    prior = await bookings.get_outcome(self._pool, claim.booking_id)
            except Unavailable:
                prior = None  # the booking the key names is pending, as far as we can tell
            if prior is not None:
                return prior
        return Pending(claim.booking_id, req.event_id, req.quantity)

    async def cancel(self, user_id: UserId, booking_id: BookingId) -> Outcome | Pending:
        """Send the cancellation to the event's actor (the only writer of its stock)."""
        async with translate_db_errors(read=True):  # before anything is sent
            current = await bookings.get_outcome(self._pool, booking_id)
        if current is None or current.user_id != user_id:
            raise NotFound("no such booking")
        if current.status not in (BookingStatus.CONFIRMED, BookingStatus.HELD):
            raise NotCancellable("only a confirmed or held booking can be cancelled")
        outcome = await self._send_and_wait(
            CancelCommand(booking_id, current.event_id, user_id, self._transport.reply_to,
                          uuid.uuid4()))
        if outcome is None:
            return Pending(booking_id, current.event_id, current.quantity)
        if outcome.reason == CheckedIn.code:
            raise CheckedIn("a ticket of this booking was checked in: it stands")
        if outcome.reason == RefundWindowClosed.code:
            raise RefundWindowClosed("this paid booking is past the event's refund window")
        if outcome.status is not BookingStatus.CANCELLED:
            # Refused, or the hold expired first (its expiry woke this wait).
            raise NotCancellable("only a confirmed or held booking can be cancelled")
        return outcome
