"""The booking service: the one engine entry the gateway's booking handlers call.

Validates, checks the event exists (from a short-lived cache, so a surge does not read the
events table per request), and hands over to the configured strategy.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable
from typing import NoReturn

import asyncpg

from engine.admission import Admission
from engine.auth import Principal
from engine.checkin import organizes
from engine.errors import (
    AdmissionExpired,
    AdmissionRequired,
    AlreadyExtended,
    EngineError,
    EventCancelled,
    Forbidden,
    HoldExpired,
    InvalidQuantity,
    NotExtendable,
    NotFound,
    NotOnSale,
    NoWaitingRoom,
    PaidNeedsQueued,
    QueueNotOpen,
    WaitingRoomNeedsQueued,
    WaitlistClosed,
    WaitlistNeedsQueued,
)
from engine.event_cache import EventCache
from engine.messages import (
    JoinCommand,
    LeaveCommand,
    Outcome,
    QueueCommand,
    RoomEntry,
    RoomUpdate,
    StockUpdate,
    WaitlistCommand,
    WakeCommand,
)
from engine.notifications import Notifications
from engine.process_share import share, sharing_processes
from engine.room_view import Room, RoomSummary, RoomView
from engine.settings import Settings
from engine.storage import bookings, queue_rooms
from engine.storage.database import translate_db_errors
from engine.storage.events import Event, get_event, seats_left
from engine.strategies import STRATEGIES, Booker, BookingRequest, Pending
from engine.strategies.queued import QueuedBooker, StockView
from engine.strategies.sql import cancel_event_in_transaction
from engine.transport.base import Transport
from engine.types import BookingId, BookingStatus, Clock, EventId, Strategy, UserId, utcnow

log = logging.getLogger(__name__)


#: Refusals for want of an admission, by code.
_ADMISSION_ERRORS: dict[str, type[AdmissionRequired]] = {
    AdmissionRequired.code: AdmissionRequired, AdmissionExpired.code: AdmissionExpired}


def queue_url(event_id: EventId) -> str:
    """Where a buyer joins an event's waiting room."""
    return f"/api/events/{event_id}/queue"


def waitlist_url(event_id: EventId) -> str:
    """Where a buyer joins an event's waiting list (offered to a sold-out room's line)."""
    return f"/api/events/{event_id}/waitlist"


class BookingService:
    """Book, cancel and read bookings with the strategy the settings name."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, transport: Transport,
                 notifications: Notifications, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.strategy = settings.booking_strategy
        #: Seats left as this gateway last heard; the app factory feeds it stock updates.
        self.stock = StockView()
        self._pool = pool
        self._notifications = notifications
        #: Events as last read: one read per event at a time (engine/event_cache.py).
        self.events: EventCache[Event] = EventCache(
            self._read_event, ttl=settings.event_cache_seconds,
            on_read=lambda event_id, event: self.stock.seed(event_id, event.available))
        # Each gateway process admits its share of the host's budget.
        self._admission = Admission(share(settings.max_requests_in_flight,
                                          sharing_processes(settings)))
        self._join_admission = Admission(share(settings.max_joins_in_flight,
                                               sharing_processes(settings)))
        self._transport = transport
        self._clock = clock
        self.booker = self._make_booker(pool, transport, clock)
        #: The waiting rooms as this gateway last heard; the app factory feeds it.
        self.rooms = RoomView(self._read_room, clock)

    async def stop(self) -> None:
        """Stop the strategy's background work (shutdown)."""
        await self.booker.stop()

    @property
    def capacity(self) -> int:
        """Booking and cancel requests this process works on at once, at most."""
        return self._admission.limit

    @property
    def in_flight(self) -> int:
        """Booking and cancel requests being worked on now."""
        return self._admission.in_flight

    @property
    def joins_in_flight(self) -> int:
        """Waiting-room joins being worked on now (bounded apart from the bookings)."""
        return self._join_admission.in_flight

    @property
    def at_capacity(self) -> bool:
        """Whether a booking or cancel arriving now would be refused (admission control)."""
        return self._admission.full

    def resolve(self, outcome: Outcome) -> bool:
        """Hand an outcome from the shard actors to the request waiting for it, if any; True
        when the booking's own request here took it as its answer (always, for the
        strategies that decide inline)."""
        if isinstance(self.booker, QueuedBooker):
            return self.booker.resolve(outcome)
        return True

    async def _notify(self, result: Outcome | Pending) -> Outcome | Pending:
        # Queued outcomes and stock reach the notifications through the transport; the
        # other strategies decide inline, so the service announces theirs itself.
        if isinstance(result, Outcome) and not isinstance(self.booker, QueuedBooker):
            self._notifications.outcome(result)
            if result.status in (BookingStatus.CONFIRMED, BookingStatus.CANCELLED):
                # One read after the fact: the strategy's own transaction is committed.
                async with translate_db_errors():
                    left = await seats_left(self._pool, result.event_id)
                if left is not None:
                    self._notifications.stock([StockUpdate(result.event_id, left)])
        return result

    def _make_booker(self, pool: asyncpg.Pool, transport: Transport, clock: Clock) -> Booker:
        module_name, _, attr = STRATEGIES[self.strategy.value].partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
        if self.strategy is Strategy.QUEUED:
            booker: Booker = cls(pool, transport, self.stock,
                                 wait_seconds=self.settings.booking_wait_seconds,
                                 lost_after=self.settings.lost_after_seconds,
                                 announce=self._notifications.outcome)
        else:
            booker = cls(pool, clock)
        return booker

    async def event(self, event_id: EventId) -> Event:
        """The event (cached briefly); `NotFound` if it does not exist. A request waits for
        a read at most its bound; the read itself goes on for whoever else waits on it."""
        async with translate_db_errors(read=True):
            return await self.events.get(event_id)

    async def sale_opens_in(self, event_id: EventId) -> float | None:
        """Seconds until the event's sale opens by this service's clock (negative once it
        has), from the cached event; None for a sale with no opening time."""
        event = await self.event(event_id)
        if event.sale_starts_at is None:
            return None
        return (event.sale_starts_at - self._clock()).total_seconds()

    async def _read_event(self, event_id: EventId) -> Event:
        async with translate_db_errors():
            return await get_event(self._pool, event_id)

    async def _read_room(self, event_id: EventId) -> RoomUpdate | None:
        async with translate_db_errors():
            return await queue_rooms.load_view(self._pool, event_id)

    async def event_edited(self, event: Event) -> None:
        """An organizer changed an event through this gateway: drop the cached copy, and tell
        every gateway its seats left — a gateway that learned "sold out" before a capacity
        raise would otherwise keep refusing from memory until some batch broadcast again."""
        self.events.forget(event.id)
        await self._transport.broadcast_stock([StockUpdate(event.id, event.available)])
        if isinstance(self.booker, QueuedBooker):
            # The actor reloads it now rather than at its next write: seats a raised
            # capacity returned go to the waiting list at once, before any booking.
            try:
                await self._transport.send([WakeCommand(event.id, edited=True)])
            except EngineError as exc:  # it is fenced at its next write and reloads then
                log.warning("event %s edited; its actor not woken: %s", event.id, exc.message)

    async def book(self, user_id: UserId, event_id: EventId, quantity: int,
                   idempotency_key: str | None = None) -> Outcome | Pending:
        """Book `quantity` seats; returns the outcome, or Pending when it takes longer."""
        self._check_quantity(quantity)
        with self._admission.admitted():
            event = await self.event(event_id)
            if event.cancelled:  # from the cached event, no hop (the actor refuses too)
                raise EventCancelled("the event was cancelled")
            if event.sale_starts_at is not None and self._clock() < event.sale_starts_at:
                # Answered from the cached event, no hop: nothing can be booked before it.
                raise NotOnSale("the sale has not started")
            if event.paid and self.strategy is not Strategy.QUEUED:
                # A hold needs an actor to expire it; per-request strategies have none.
                raise PaidNeedsQueued(
                    f"paid events are booked only with the queued strategy, not {self.strategy}")
            if event.waiting_room:
                await self._check_admission(user_id, event_id)
            result = await self._notify(await self.booker.book(
                BookingRequest(user_id, event_id, quantity, idempotency_key)))
            if isinstance(result, Outcome) and result.reason in _ADMISSION_ERRORS:
                raise _ADMISSION_ERRORS[result.reason](queue_url=queue_url(event_id))
            return result

    async def _check_admission(self, user_id: UserId, event_id: EventId) -> None:
        """Refuse a booking without a valid admission, from this gateway's copy of the
        room (read once per event, then kept by broadcasts: no read per request)."""
        if not isinstance(self.booker, QueuedBooker):
            raise WaitingRoomNeedsQueued(
                f"waiting rooms need the queued strategy, not {self.strategy}")
        room = await self.rooms.room(event_id)
        refusal = room.admission(user_id, self._clock())
        if refusal is not None:
            raise _ADMISSION_ERRORS[refusal](queue_url=queue_url(event_id))

    async def join_queue(self, user_id: UserId, event_id: EventId) -> Outcome | Pending:
        """Ask the event's actor for a place in its waiting room: the entry (new or the
        account's active one), a refusal as a rejected outcome, or Pending."""
        event = await self.event(event_id)
        if not event.waiting_room:
            raise NoWaitingRoom("this event has no waiting room: book it directly")
        if not isinstance(self.booker, QueuedBooker):
            raise WaitingRoomNeedsQueued(
                f"waiting rooms need the queued strategy, not {self.strategy}")
        if event.queue_opens_at is not None and self._clock() < event.queue_opens_at:
            raise QueueNotOpen("the waiting room has not opened yet")  # from the cached copy
        # Held from now on (read once): its broadcasts then reach this buyer's stream here.
        await self.rooms.room(event_id)
        command = QueueCommand(uuid.uuid4(), event_id, user_id, self._transport.reply_to)
        with self._join_admission.admitted():
            outcome = await self.booker.waitlist(command)
        return outcome or Pending(command.booking_id, event_id, 0)

    async def room_summary(self, principal: Principal, event_id: EventId) -> RoomSummary:
        """An event's waiting room as its vendor or an admin watches it (`Forbidden` for
        everyone else, `NoWaitingRoom` without one): from this gateway's copy of the room,
        read once, and its stock view — no database read per look."""
        event = await self.event(event_id)
        if not organizes(principal, event):
            raise Forbidden("only the event's vendor or an admin may watch its waiting room")
        if not event.waiting_room:
            raise NoWaitingRoom("this event has no waiting room")
        if not isinstance(self.booker, QueuedBooker):
            raise WaitingRoomNeedsQueued(
                f"waiting rooms need the queued strategy, not {self.strategy}")
        room = await self.rooms.room(event_id)
        left = self.stock.get(event_id)
        return room.summary(self._clock(), event.available if left is None else left)

    async def queue_entry(self, user_id: UserId, queue_id: uuid.UUID
                          ) -> tuple[Room, RoomEntry]:
        """An entry of a waiting room and its room, to its owner only (`NotFound` for
        everyone else); from this gateway's copy, read once per room."""
        event_id = self.rooms.event_of(queue_id)
        stored = event_id is None
        if event_id is None:
            async with translate_db_errors():
                event_id = await queue_rooms.event_of(self._pool, queue_id)
        if event_id is None:
            raise NotFound("no such waiting-room entry")
        room = await self.rooms.room(event_id)
        if stored and queue_id not in room.entries:
            # Stored, yet its broadcast has not reached this gateway (it travels apart
            # from the join's answer): read the room again, once.
            room = await self.rooms.reload(event_id)
        entry = room.entries.get(queue_id)
        if entry is None or entry.user_id != user_id:
            raise NotFound("no such waiting-room entry")
        return room, entry

    async def join_waitlist(self, user_id: UserId, event_id: EventId,
                            quantity: int) -> Outcome | Pending:
        """Ask the event's actor to put this buyer on its waiting list: its answer (the
        entry, or the refusal as a rejected outcome), Pending if not within the wait."""
        self._check_quantity(quantity)
        event = await self.event(event_id)
        if not event.waitlist:  # from the cached copy; the actor decides with its own too
            raise WaitlistClosed("this event has no waiting list")
        return await self._waitlist(lambda reply_to: JoinCommand(
            uuid.uuid4(), event_id, user_id, quantity, reply_to))

    async def leave_waitlist(self, user_id: UserId, event_id: EventId) -> Outcome | Pending:
        """Ask the event's actor to take this buyer off its waiting list."""
        await self.event(event_id)  # 404 for an event that does not exist
        return await self._waitlist(lambda reply_to: LeaveCommand(
            uuid.uuid4(), event_id, user_id, reply_to))

    async def _waitlist(self, make: Callable[[str], WaitlistCommand]) -> Outcome | Pending:
        if not isinstance(self.booker, QueuedBooker):
            raise WaitlistNeedsQueued(
                f"waiting lists need the queued strategy, not {self.strategy}")
        command = make(self._transport.reply_to)
        with self._admission.admitted():
            outcome = await self.booker.waitlist(command)
        quantity = command.quantity if isinstance(command, JoinCommand) else 0
        return outcome or Pending(command.booking_id, command.event_id, quantity)

    async def extend(self, user_id: UserId, booking_id: BookingId) -> Outcome | Pending:
        """Give this user's held booking more time, once: the hold with its new `expires_at`
        (Pending if not decided within the wait). `409 not_extendable` for a booking that
        is not held, `hold_expired` once it expired, `already_extended` the second time."""
        booking = await self.booking(user_id, booking_id)  # 404 for anyone but the owner
        if isinstance(booking, Pending) or booking.status is not BookingStatus.HELD:
            self._not_extendable(booking)
        if not isinstance(self.booker, QueuedBooker):  # no hold exists without an actor
            raise NotExtendable("only a held booking can be extended")
        assert isinstance(booking, Outcome)
        with self._admission.admitted():
            outcome = await self.booker.extend(booking_id, booking.event_id, user_id)
        if outcome is None:
            return Pending(booking_id, booking.event_id, booking.quantity)
        if outcome.reason == AlreadyExtended.code:
            raise AlreadyExtended("this hold was extended already: it is extended once")
        if outcome.reason is not None:  # over by the actor's clock, or gone since the read
            self._not_extendable(await self.booking(user_id, booking_id))
        return outcome

    @staticmethod
    def _not_extendable(booking: Outcome | Pending) -> NoReturn:
        status = booking.status if isinstance(booking, Outcome) else BookingStatus.PENDING
        if status in (BookingStatus.EXPIRED, BookingStatus.HELD):  # held: due by the clock
            raise HoldExpired("the hold expired before it was extended")
        raise NotExtendable(f"only a held booking can be extended; this one is {status}")

    async def cancel_event(self, principal: Principal, event_id: EventId) -> Event | None:
        """Its vendor or an admin cancels the whole event; its actor decides it, in order with
        the event's bookings. The event as cancelled, or None if not decided within the wait
        (it is decided anyway, once). Cancelling a cancelled event answers it again."""
        async with translate_db_errors(read=True):  # nothing decided yet: a retry is safe
            event = await get_event(self._pool, event_id)
        if not organizes(principal, event):
            raise Forbidden("only the event's vendor or an admin may cancel it")
        if not event.cancelled:
            if isinstance(self.booker, QueuedBooker):
                if await self.booker.cancel_event(event_id, principal.user_id) is None:
                    return None
            else:
                await self._cancel_event_inline(event_id)
            async with translate_db_errors():
                event = await get_event(self._pool, event_id)
        self.events.forget(event_id)
        return event

    async def _cancel_event_inline(self, event_id: EventId) -> None:
        """`locked` and `naive` have no actor: the event is cancelled in one transaction under
        its row lock, and this gateway tells what an actor's batch would have pushed — each
        hold it ended to its buyer, and the seats (none) to every gateway."""
        async with translate_db_errors():
            ended = await cancel_event_in_transaction(self._pool, event_id)
        for outcome in ended:
            self._notifications.outcome(outcome)
        await self._transport.broadcast_stock([StockUpdate(event_id, 0)])

    def _check_quantity(self, quantity: int) -> None:
        if quantity < 1 or quantity > self.settings.max_quantity:
            raise InvalidQuantity(
                f"quantity must be a whole number from 1 to {self.settings.max_quantity}")

    async def cancel(self, user_id: UserId, booking_id: BookingId) -> Outcome | Pending:
        """Cancel a confirmed booking of this user."""
        with self._admission.admitted():
            await self.booking(user_id, booking_id)  # 404 for anyone but the owner
            return await self._notify(await self.booker.cancel(user_id, booking_id))

    async def booking(self, user_id: UserId, booking_id: BookingId) -> Outcome | Pending:
        """A booking as its owner sees it; `NotFound` for everyone else."""
        async with translate_db_errors(read=True):
            outcome = await bookings.get_outcome(self._pool, booking_id)
            if outcome is not None:
                if outcome.user_id != user_id:
                    raise NotFound("no such booking")
                return outcome
            pending = await bookings.pending_owner(self._pool, booking_id)
        if pending is None or pending[0] != user_id:
            raise NotFound("no such booking")
        return Pending(booking_id, pending[1], pending[2])
