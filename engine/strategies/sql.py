"""SQL shared by the request-per-transaction strategies (`locked`, `naive`)."""

from __future__ import annotations

import asyncpg

from engine.errors import CheckedIn, IdempotencyMismatch, NotCancellable, NotFound
from engine.messages import Outcome, TicketInfo, void_tickets
from engine.storage import bookings
from engine.storage.cancellation import cancel_events
from engine.storage.database import write_transaction
from engine.strategies import BookingRequest
from engine.types import BookingId, BookingStatus, EventId, UserId


async def claim_or_replay(conn: asyncpg.Connection, req: BookingRequest,
                          booking_id: BookingId) -> Outcome | None:
    """Inside the request's transaction: pin the key, or return the first request's outcome.

    A concurrent request with the same key blocks on the key's unique index until the first
    transaction commits, then sees its outcome: no polling, exactly one decision.
    """
    if req.idempotency_key is None:
        return None
    claimed = await conn.fetchval(
        "INSERT INTO idempotency_keys (user_id, key, booking_id, event_id, quantity)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING RETURNING 1",
        req.user_id, req.idempotency_key, booking_id, req.event_id, req.quantity)
    if claimed:
        return None
    prior = await conn.fetchrow(
        "SELECT booking_id, event_id, quantity FROM idempotency_keys"
        " WHERE user_id = $1 AND key = $2", req.user_id, req.idempotency_key)
    if (prior["event_id"], prior["quantity"]) != (req.event_id, req.quantity):
        raise IdempotencyMismatch("this Idempotency-Key was used for a different request")
    outcome = await bookings.get_outcome(conn, prior["booking_id"])
    if outcome is None:
        raise NotFound("the first request with this key left no booking")
    return outcome


async def record(conn: asyncpg.Connection, req: BookingRequest, booking_id: BookingId,
                 strategy: str, reason: str | None,
                 tickets: tuple[TicketInfo, ...] = ()) -> Outcome:
    """Insert the booking (and its tickets) and return its outcome."""
    status = BookingStatus.REJECTED if reason else BookingStatus.CONFIRMED
    await conn.execute(
        "INSERT INTO bookings (id, event_id, user_id, quantity, status, reason, strategy)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)", booking_id, req.event_id, req.user_id,
        req.quantity, status.value, reason, strategy)
    if tickets:
        await conn.executemany(
            "INSERT INTO tickets (id, code, booking_id, event_id, user_id)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(t.id, t.code, booking_id, req.event_id, req.user_id) for t in tickets])
    return Outcome(booking_id, req.event_id, req.user_id, status, req.quantity, reason, tickets)


async def cancel_in_transaction(pool: asyncpg.Pool, user_id: UserId,
                                booking_id: BookingId) -> Outcome:
    """Cancel a confirmed booking in one transaction; seats go back to sale. `OutcomeUnknown`
    if the answer to its COMMIT was lost."""
    async with write_transaction(pool) as conn:
        row = await conn.fetchrow(
            "UPDATE bookings SET status = 'cancelled', decided_at = now()"
            " WHERE id = $1 AND user_id = $2 AND status = 'confirmed'"
            " RETURNING event_id, quantity", booking_id, user_id)
        if row is None:
            raise NotCancellable("only a confirmed booking can be cancelled")
        # A ticket checked in at the door (by the queued strategy's actors: a database used
        # before the strategy was switched) keeps its booking; raising rolls the update back.
        if await conn.fetchval("SELECT true FROM tickets WHERE booking_id = $1"
                               " AND checked_in_at IS NOT NULL LIMIT 1", booking_id):
            raise CheckedIn("a ticket of this booking was checked in: it stands")
        tickets = await conn.fetch(
            "UPDATE tickets SET voided_at = now() WHERE booking_id = $1 AND voided_at IS NULL"
            " RETURNING id, code", booking_id)
        # The epoch bump fences any shard actor holding this event's stock in memory.
        await conn.execute("UPDATE events SET sold = sold - $2, owner_epoch = owner_epoch + 1"
                           " WHERE id = $1", row["event_id"], row["quantity"])
        return Outcome(booking_id, row["event_id"], user_id, BookingStatus.CANCELLED,
                       row["quantity"], None,
                       void_tickets(TicketInfo(t["id"], t["code"]) for t in tickets))


async def cancel_event_in_transaction(pool: asyncpg.Pool, event_id: EventId) -> list[Outcome]:
    """Cancel a whole event in one transaction, as its shard actor would: its open holds and
    offers end (left by a queued run before the strategy was switched), every confirmed
    booking goes void (a paid one's refund owed, in the payments outbox), the waiting list
    closes, and no seat is sold or held any more. Returns the holds it ended, for their
    buyers; nothing for an event cancelled already. `NotFound`, or `CheckedIn` for an event
    under way (nothing changes then); `OutcomeUnknown` if the answer to its COMMIT was lost
    (cancelling again answers it)."""
    async with write_transaction(pool) as conn:
        # The row lock orders the cancel with the event's bookings (each takes it first); the
        # epoch bump fences any shard actor holding the event in memory.
        row = await conn.fetchrow(
            "UPDATE events SET owner_epoch = owner_epoch + 1 WHERE id = $1"
            " RETURNING cancelled_at IS NOT NULL AS cancelled, currency", event_id)
        if row is None:
            raise NotFound(f"no event {event_id}")
        if row["cancelled"]:  # a retry: it is answered again, and nothing moves twice
            return []
        if await conn.fetchval("SELECT true FROM tickets WHERE event_id = $1"
                               " AND checked_in_at IS NOT NULL LIMIT 1", event_id):
            raise CheckedIn("a ticket of this event was checked in: it is under way")
        holds = await conn.fetch(
            "UPDATE bookings SET status = 'cancelled', decided_at = now()"
            " WHERE event_id = $1 AND status = 'held'"
            " RETURNING id, user_id, quantity, expires_at, amount_cents, offer,"
            " extended_at IS NOT NULL AS extended", event_id)
        await cancel_events(conn, [event_id])
        await conn.execute("UPDATE events SET sold = 0, held = 0 WHERE id = $1", event_id)
    return [Outcome(h["id"], event_id, h["user_id"], BookingStatus.CANCELLED, h["quantity"],
                    None, expires_at=h["expires_at"], amount_cents=h["amount_cents"],
                    currency=row["currency"], offer=h["offer"], extended=h["extended"])
            for h in holds]
