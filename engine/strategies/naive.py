"""`naive`: read the stock, then write it — the race that oversells. Here on purpose, only with
ALLOW_NAIVE=1, so a surge scenario can show what the other strategies prevent."""

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


class NaiveBooker:
    """Check-then-act without a lock: concurrent buyers all see the same last seats."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock = utcnow) -> None:
        self._pool = pool
        self._clock = clock

    async def book(self, req: BookingRequest) -> Outcome | Pending:
        """Read, decide, write — each its own statement, no lock held between them."""
        booking_id = uuid.uuid4()
        async with translate_db_errors(), self._pool.acquire() as conn:
            async with write_transaction(conn):
                replay = await claim_or_replay(conn, req, booking_id)
            if replay is not None:
                return replay
            event = await conn.fetchrow(
                "SELECT capacity, sold, sale_starts_at, per_user_limit, cancelled_at FROM events"
                " WHERE id = $1", req.event_id)
            if event is None:
                raise NotFound(f"no event {req.event_id}")
            reason = None
            if event["cancelled_at"] is not None:  # after this gateway's cached copy was read
                reason = EventCancelled.code
            elif event["sale_starts_at"] is not None and event["sale_starts_at"] > self._clock():
                reason = "not_on_sale"
            elif event["capacity"] - event["sold"] < req.quantity:
                reason = "sold_out"
            elif event["per_user_limit"] is not None:
                held = await conn.fetchval(
                    "SELECT coalesce(sum(quantity), 0) FROM bookings WHERE event_id = $1"
                    " AND user_id = $2 AND status = 'confirmed'", req.event_id, req.user_id)
                if held + req.quantity > event["per_user_limit"]:
                    reason = "limit_exceeded"
            if reason is None:
                # The lost update: an absolute write of what we read, plus ours.
                await conn.execute("UPDATE events SET sold = $2 WHERE id = $1",
                                   req.event_id, event["sold"] + req.quantity)
            async with write_transaction(conn):
                return await record(conn, req, booking_id, "naive", reason,
                                    () if reason else new_tickets(req.quantity))

    async def cancel(self, user_id: UserId, booking_id: BookingId) -> Outcome | Pending:
        """Cancel in one transaction (the naive part is booking, not cancelling)."""
        async with translate_db_errors():
            return await cancel_in_transaction(self._pool, user_id, booking_id)

    async def stop(self) -> None:
        """Nothing runs in the background."""
