"""`locked`: the classic fix — one PostgreSQL transaction per request, serialized on the
event's row by a conditional UPDATE. Correct, and bounded by row-lock contention."""

from __future__ import annotations

import uuid

import asyncpg

from engine.errors import EventCancelled, NotFound
from engine.messages import Outcome
from engine.storage.database import translate_db_errors, write_transaction
from engine.strategies import BookingRequest, Pending
from engine.strategies.sql import cancel_in_transaction, claim_or_replay, record
from engine.tickets import new_tickets
from engine.types import BookingId, Clock, UserId, utcnow


class LockedBooker:
    """Decides each booking in its own transaction."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock = utcnow) -> None:
        self._pool = pool
        self._clock = clock

    async def book(self, req: BookingRequest) -> Outcome | Pending:
        """Book under the event's row lock; `OutcomeUnknown` if the answer to the COMMIT was
        lost (a retry with the same key replays what was decided)."""
        booking_id = uuid.uuid4()
        async with translate_db_errors(), write_transaction(self._pool) as conn:
            replay = await claim_or_replay(conn, req, booking_id)
            if replay is not None:
                return replay
            # Takes the row lock: from here every other booking of this event waits for us.
            # The epoch bump fences a shard actor that may hold this event in memory.
            row = await conn.fetchrow(
                "UPDATE events SET sold = sold + $2, owner_epoch = owner_epoch + 1"
                " WHERE id = $1 AND sold + held + $2 <= capacity AND cancelled_at IS NULL"
                " AND (sale_starts_at IS NULL OR sale_starts_at <= $3)"
                " RETURNING per_user_limit", req.event_id, req.quantity, self._clock())
            if row is None:
                reason = await self._why_not(conn, req)
                return await record(conn, req, booking_id, "locked", reason)
            if row["per_user_limit"] is not None:
                held = await conn.fetchval(
                    "SELECT coalesce(sum(quantity), 0) FROM bookings WHERE event_id = $1"
                    " AND user_id = $2 AND status = 'confirmed'", req.event_id, req.user_id)
                if held + req.quantity > row["per_user_limit"]:
                    await conn.execute("UPDATE events SET sold = sold - $2 WHERE id = $1",
                                       req.event_id, req.quantity)
                    return await record(conn, req, booking_id, "locked", "limit_exceeded")
            return await record(conn, req, booking_id, "locked", None,
                                new_tickets(req.quantity))

    async def _why_not(self, conn: asyncpg.Connection, req: BookingRequest) -> str:
        row = await conn.fetchrow("SELECT sale_starts_at, cancelled_at FROM events"
                                  " WHERE id = $1", req.event_id)
        if row is None:
            raise NotFound(f"no event {req.event_id}")
        if row["cancelled_at"] is not None:  # after this gateway's cached copy was read
            return EventCancelled.code
        if row["sale_starts_at"] is not None and row["sale_starts_at"] > self._clock():
            return "not_on_sale"
        return "sold_out"

    async def cancel(self, user_id: UserId, booking_id: BookingId) -> Outcome | Pending:
        """Cancel in one transaction."""
        async with translate_db_errors():
            return await cancel_in_transaction(self._pool, user_id, booking_id)

    async def stop(self) -> None:
        """Nothing runs in the background."""
