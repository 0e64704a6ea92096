"""Dead-lettered commands become `rejected` outcomes — recorded, so they stay readable, and
returned for the sender to answer: never lost."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg

from engine.errors import DeadLettered, NotCancellable
from engine.messages import (
    BookCommand,
    CancelCommand,
    CheckinCommand,
    CheckinResult,
    Command,
    EventCancelCommand,
    ExtendCommand,
    JoinCommand,
    LeaveCommand,
    Outcome,
    QueueCommand,
    QueuePlace,
    WakeCommand,
)
from engine.storage import bookings
from engine.storage.database import translate_db_errors
from engine.types import BookingStatus

log = logging.getLogger(__name__)

REASON = DeadLettered.code


async def record_dead(pool: asyncpg.Pool, commands: Sequence[Command]) -> list[Outcome]:
    """Record each dead-lettered booking as rejected (unless it already has an outcome: a
    message can be dead-lettered after its batch committed); the outcomes to answer, each
    addressed to its command's gateway."""
    outcomes: list[Outcome] = []
    async with translate_db_errors():
        for cmd in commands:
            if isinstance(cmd, WakeCommand):
                continue  # concerns no booking: the next claim of its event does its work
            if isinstance(cmd, CheckinCommand):
                # Nothing to record: the ticket is as it was, and its scanner hears so.
                outcomes.append(Outcome(cmd.checkin_id, cmd.event_id, cmd.user_id,
                                        BookingStatus.REJECTED, 0, REASON,
                                        reply_to=cmd.reply_to, checkin=CheckinResult()))
                continue
            if isinstance(cmd, EventCancelCommand):
                # Nothing of it was written: the event stands, and its organizer hears so.
                outcomes.append(Outcome(cmd.booking_id, cmd.event_id, cmd.user_id,
                                        BookingStatus.REJECTED, 0, REASON,
                                        reply_to=cmd.reply_to, event_cancel=True))
                continue
            if isinstance(cmd, ExtendCommand):
                # The hold keeps its deadline; the request hears it was not extended.
                outcomes.append(Outcome(cmd.booking_id, cmd.event_id, cmd.user_id,
                                        BookingStatus.REJECTED, 0, REASON,
                                        reply_to=cmd.reply_to, answers=cmd.extension_id,
                                        extension=True))
                continue
            if isinstance(cmd, JoinCommand | LeaveCommand):
                # Nothing of it was written (the batch that would have is what failed).
                outcomes.append(Outcome(cmd.booking_id, cmd.event_id, cmd.user_id,
                                        BookingStatus.REJECTED, 0, REASON,
                                        reply_to=cmd.reply_to, answers=cmd.booking_id,
                                        waitlist=True))
                continue
            if isinstance(cmd, QueueCommand):  # a waiting-room join: nothing written either
                outcomes.append(Outcome(cmd.booking_id, cmd.event_id, cmd.user_id,
                                        BookingStatus.REJECTED, 0, REASON,
                                        reply_to=cmd.reply_to, answers=cmd.booking_id,
                                        queue=QueuePlace("rejected")))
                continue
            existing = await bookings.get_outcome(pool, cmd.booking_id)
            if existing is None and isinstance(cmd, BookCommand):
                try:
                    existing = await bookings.record_rejection(
                        pool, cmd.booking_id, cmd.event_id, cmd.user_id, cmd.quantity, REASON)
                    log.warning("booking %s dead-lettered: rejected", cmd.booking_id)
                except (asyncpg.exceptions.IntegrityConstraintViolationError,
                        asyncpg.exceptions.DataError) as exc:
                    # Names a user or event that does not exist: nothing to store. The
                    # sender still hears "rejected"; no seat was ever at stake.
                    log.error("dead-lettered booking %s cannot be stored: %s",
                              cmd.booking_id, exc)
                    existing = Outcome(cmd.booking_id, cmd.event_id, cmd.user_id,
                                       BookingStatus.REJECTED, cmd.quantity, REASON)
            if existing is None:  # a cancellation that never ran: the booking stands
                existing = Outcome(cmd.booking_id, cmd.event_id, cmd.user_id,
                                   BookingStatus.REJECTED, 0, NotCancellable.code)
            outcomes.append(Outcome(existing.booking_id, existing.event_id, existing.user_id,
                                    existing.status, existing.quantity, existing.reason,
                                    existing.tickets, cmd.reply_to,
                                    answers=cmd.cancel_id if isinstance(cmd, CancelCommand)
                                    else None))
    return outcomes
