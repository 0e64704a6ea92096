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
    DeliveryUncertain,
    IdempotencyMismatch,
    Lost,
    NotCancellable,
    NotFound,
    SoldOut,
    Unavailable,
)
from engine.messages import BookCommand, CancelCommand, Outcome, StockUpdate
from engine.storage import bookings
from engine.storage.database import translate_db_errors
from engine.strategies import BookingRequest, Pending
from engine.transport.base import Transport
from engine.types import BookingId, BookingStatus, EventId, UserId

log = logging.getLogger(__name__)


class StockView:
    """Seats left per event as this gateway last heard; a hint, never the authority."""

    def __init__(self) -> None:
        self._available: dict[EventId, int] = {}

    def update(self, updates: Sequence[StockUpdate]) -> None:
        """Apply a broadcast from a shard actor."""
        for u in updates:
            self._available[u.event_id] = u.available

    def seed(self, event_id: EventId, available: int) -> None:
        """Learn an event's stock from a database read, unless a broadcast came first."""
        self._available.setdefault(event_id, available)

    def get(self, event_id: EventId) -> int | None:
        """Seats left, if known."""
        return self._available.get(event_id)


def _same_request(prior: Outcome, req: BookingRequest) -> Outcome:
    if (prior.event_id, prior.quantity) != (req.event_id, req.quantity):
        raise IdempotencyMismatch("this Idempotency-Key was used for another request")
    return prior


#: First pause between re-sends of a command whose delivery is uncertain; it doubles up to
#: REDELIVER_MAX_PAUSE, so a broker that is down is asked about once every few seconds.
REDELIVER_FIRST_PAUSE = 0.2
REDELIVER_MAX_PAUSE = 5.0


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
        self._redeliveries: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        """Stop re-sending (shutdown). What was not confirmed by now stays pending: it may
        still be in the broker, so it cannot be called lost."""
        tasks = list(self._redeliveries)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tasks:
            log.warning("stopped with %d commands of unknown delivery still pending", len(tasks))

    def resolve(self, outcome: Outcome) -> None:
        """Wake the requests on this gateway waiting for this booking's outcome."""
        for future in self._waiters.pop(outcome.booking_id, ()):
            if not future.done():
                future.set_result(outcome)

    async def _send_and_wait(self, command: BookCommand | CancelCommand) -> Outcome | None:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        # Registered before sending: the outcome can arrive before send() returns.
        waiters = self._waiters[command.booking_id]
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
            return None
        except TimeoutError:
            return None
        finally:
            if future in waiters:
                waiters.remove(future)
            if not waiters and self._waiters.get(command.booking_id) is waiters:
                del self._waiters[command.booking_id]

    async def _redeliver(self, command: BookCommand | CancelCommand) -> None:
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

    async def book(self, req: BookingRequest) -> Outcome | Pending:
        """Answer sold-out locally; else send and wait for the decision."""
        booking_id, recheck = uuid.uuid4(), False
        if self._stock.get(req.event_id) == 0:
            # The surge's hopeless majority: answered here with no write at all. A keyed
            # request first looks its key up (one primary-key read, a second to fetch the
            # outcome when the key exists): a retry of a booking that was confirmed before
            # the event sold out must hear "confirmed" again (I4). A request refused here
            # was never accepted, so it leaves no record.
            if req.idempotency_key is not None:
                async with translate_db_errors():
                    prior = await bookings.outcome_for_key(self._pool, req.user_id,
                                                           req.idempotency_key)
                if prior is not None:
                    return _same_request(prior, req)
            raise SoldOut("sold out")
        if req.idempotency_key is not None:
            # Pin the key to this request (an autocommitted insert), or find the request it
            # was pinned to: a retry gets the first request's booking id, never a second one.
            async with translate_db_errors():
                claim = await bookings.claim_key(self._pool, req.user_id, req.idempotency_key,
                                                 req.event_id, req.quantity)
            if (claim.event_id, claim.quantity) != (req.event_id, req.quantity):
                raise IdempotencyMismatch("this Idempotency-Key was used for another request")
            booking_id = claim.booking_id
            if not claim.created:
                async with translate_db_errors():
                    prior = await bookings.get_outcome(self._pool, booking_id)
                if prior is not None:
                    return prior
                # Still undecided (or its first send was lost): sending again is safe, the
                # actor finds an outcome by booking id before deciding anything.
                recheck = True
        command = BookCommand(booking_id, req.event_id, req.user_id, req.quantity,
                              self._transport.reply_to, check_existing=recheck)
        try:
            outcome = await self._send_and_wait(command)
        except Unavailable as exc:
            if req.idempotency_key is not None:
                # Not done by this attempt. The key stays pinned to its booking id: a retry
                # re-sends that same id, so concurrent copies of one request can never make
                # two bookings (releasing the key raced with them).
                raise
            # "Not done", and checkable: the booking id this request would have had is named,
            # and no booking will ever have it (nothing else knows it).
            raise Unavailable(exc.message, retry_after=exc.retry_after,
                              booking_id=str(booking_id)) from exc
        if outcome is not None:
            return outcome
        if req.idempotency_key is None:
            # Leave a trace so GET /api/bookings/{id} answers "pending" to its owner.
            async with translate_db_errors():
                await bookings.claim_key(self._pool, req.user_id, f"auto:{booking_id}",
                                         req.event_id, req.quantity, booking_id)
        return Pending(booking_id, req.event_id, req.quantity)

    async def cancel(self, user_id: UserId, booking_id: BookingId) -> Outcome | Pending:
        """Send the cancellation to the event's actor (the only writer of its stock)."""
        async with translate_db_errors():
            current = await bookings.get_outcome(self._pool, booking_id)
        if current is None or current.user_id != user_id:
            raise NotFound("no such booking")
        if current.status is not BookingStatus.CONFIRMED:
            raise NotCancellable("only a confirmed booking can be cancelled")
        outcome = await self._send_and_wait(
            CancelCommand(booking_id, current.event_id, user_id, self._transport.reply_to))
        if outcome is None:
            return Pending(booking_id, current.event_id, current.quantity)
        if outcome.reason == NotCancellable.code:
            raise NotCancellable("only a confirmed booking can be cancelled")
        return outcome
