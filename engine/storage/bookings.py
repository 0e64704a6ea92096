"""Bookings and tickets as their owners read them, and idempotency keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from engine.domain import warn_lead
from engine.messages import Outcome, TicketInfo
from engine.types import BookingId, BookingStatus, EventId, UserId

#: A booking's tickets (joined as `t`), in code order: read back by `_tickets`.
_TICKET_ARRAYS = """
       coalesce(array_agg(t.id ORDER BY t.code) FILTER (WHERE t.id IS NOT NULL), '{}')
           AS ticket_ids,
       coalesce(array_agg(t.code ORDER BY t.code) FILTER (WHERE t.id IS NOT NULL), '{}')
           AS codes,
       coalesce(array_agg(t.voided_at IS NOT NULL ORDER BY t.code)
                FILTER (WHERE t.id IS NOT NULL), '{}') AS voids
"""

_OUTCOME_SQL = """
SELECT b.id, b.event_id, b.user_id, b.quantity, b.status, b.reason, b.expires_at,
       b.amount_cents, b.currency, b.offer, b.extended_at IS NOT NULL AS extended,
       e.hold_seconds,
""" + _TICKET_ARRAYS + """
FROM bookings b JOIN events e ON e.id = b.event_id
     LEFT JOIN tickets t ON t.booking_id = b.id
WHERE b.id = ANY($1::uuid[])
GROUP BY b.id, e.id
"""


def _tickets(row: asyncpg.Record) -> tuple[TicketInfo, ...]:
    return tuple(TicketInfo(i, c, v) for i, c, v in zip(
        row["ticket_ids"], row["codes"], row["voids"], strict=True))


def _warn_at(row: asyncpg.Record) -> datetime | None:
    """When a hold's buyer is warned, by the rule its actor follows (the event's holdSeconds
    as it stands: an edit makes the actor reload its holds with it too)."""
    at = row["expires_at"]
    return None if at is None else at - warn_lead(row["hold_seconds"])


def _outcome(row: asyncpg.Record) -> Outcome:
    return Outcome(row["id"], row["event_id"], row["user_id"], BookingStatus(row["status"]),
                   row["quantity"], row["reason"], _tickets(row),
                   expires_at=row["expires_at"], amount_cents=row["amount_cents"],
                   currency=row["currency"], offer=row["offer"], extended=row["extended"],
                   warn_at=_warn_at(row))


async def outcomes(db: asyncpg.Pool | asyncpg.Connection,
                   booking_ids: list[BookingId]) -> dict[BookingId, Outcome]:
    """The recorded outcome of each booking id that has one (with its tickets)."""
    if not booking_ids:
        return {}
    rows = await db.fetch(_OUTCOME_SQL, booking_ids)
    return {r["id"]: _outcome(r) for r in rows}


async def get_outcome(db: asyncpg.Pool | asyncpg.Connection,
                      booking_id: BookingId) -> Outcome | None:
    """One booking's recorded outcome, or None while it is pending (or unknown)."""
    return (await outcomes(db, [booking_id])).get(booking_id)


async def record_rejection(db: asyncpg.Pool | asyncpg.Connection, booking_id: BookingId,
                           event_id: EventId, user_id: UserId, quantity: int,
                           reason: str) -> Outcome:
    """Store a rejection decided outside a shard actor (it changes no stock, so any process
    may write it) and return it."""
    inserted = await db.fetchval(
        "INSERT INTO bookings (id, event_id, user_id, quantity, status, reason)"
        " VALUES ($1, $2, $3, $4, 'rejected', $5) ON CONFLICT (id) DO NOTHING RETURNING 1",
        booking_id, event_id, user_id, quantity, reason)
    if not inserted:  # decided elsewhere first: that outcome stands
        existing = await get_outcome(db, booking_id)
        assert existing is not None
        return existing
    return Outcome(booking_id, event_id, user_id, BookingStatus.REJECTED, quantity, reason)


async def outcome_for_key(db: asyncpg.Pool | asyncpg.Connection, user_id: UserId,
                          key: str) -> Outcome | None:
    """The recorded outcome of the booking a user's key was pinned to, if any (one read, two
    when the key exists)."""
    booking_id = await db.fetchval(
        "SELECT booking_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        user_id, key)
    return None if booking_id is None else await get_outcome(db, booking_id)


async def holders(db: asyncpg.Pool | asyncpg.Connection,
                  event_id: EventId) -> frozenset[UserId]:
    """Users with a confirmed or cancelled booking on an event: the only ones whose retry of
    a keyed request may have an outcome to replay once it is sold out."""
    rows = await db.fetch("SELECT DISTINCT user_id FROM bookings WHERE event_id = $1"
                          " AND status IN ('confirmed', 'cancelled', 'held', 'expired')",
                          event_id)
    return frozenset(r["user_id"] for r in rows)


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """The first request made with a user's Idempotency-Key."""

    booking_id: BookingId
    event_id: EventId
    quantity: int
    created: bool


async def claim_key(db: asyncpg.Pool | asyncpg.Connection, user_id: UserId, key: str,
                    event_id: EventId, quantity: int,
                    booking_id: BookingId | None = None) -> IdempotencyClaim:
    """Pin `key` to this request, or return the request it was pinned to before.

    The INSERT is the arbiter: of concurrent requests with one key exactly one inserts, and
    every other one reads the same row (ON CONFLICT waits for the winner to commit).
    """
    booking_id = booking_id or uuid.uuid4()
    while True:
        row = await db.fetchrow(
            "INSERT INTO idempotency_keys (user_id, key, booking_id, event_id, quantity)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING"
            " RETURNING booking_id", user_id, key, booking_id, event_id, quantity)
        if row is not None:
            return IdempotencyClaim(booking_id, event_id, quantity, True)
        prior = await db.fetchrow(
            "SELECT booking_id, event_id, quantity FROM idempotency_keys"
            " WHERE user_id = $1 AND key = $2", user_id, key)
        if prior is not None:
            return IdempotencyClaim(prior["booking_id"], prior["event_id"], prior["quantity"],
                                    False)
        # The conflicting row was deleted between our INSERT and SELECT (keys are never
        # deleted while the engine runs, but an operator may purge old ones): claim anew.


async def pending_owner(db: asyncpg.Pool, booking_id: BookingId) -> tuple[UserId, EventId,
                                                                             int] | None:
    """(user, event, quantity) of a keyed booking that has no outcome yet."""
    row = await db.fetchrow("SELECT user_id, event_id, quantity FROM idempotency_keys"
                            " WHERE booking_id = $1", booking_id)
    return None if row is None else (row["user_id"], row["event_id"], row["quantity"])


@dataclass(frozen=True, slots=True)
class TicketRow:
    """A ticket in "My Tickets"."""

    id: uuid.UUID
    code: str
    event_id: EventId
    event_name: str
    booking_id: BookingId
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The API's ticket object."""
        return {"id": str(self.id), "code": self.code, "eventId": self.event_id,
                "eventName": self.event_name, "bookingId": str(self.booking_id),
                "createdAt": self.created_at.isoformat().replace("+00:00", "Z")}


async def user_tickets(db: asyncpg.Pool, user_id: UserId, limit: int = 500) -> list[TicketRow]:
    """A user's tickets, newest first."""
    rows = await db.fetch(
        "SELECT t.id, t.code, t.event_id, e.name, t.booking_id, t.created_at"
        " FROM tickets t JOIN events e ON e.id = t.event_id"
        " WHERE t.user_id = $1 AND t.voided_at IS NULL"
        " ORDER BY t.created_at DESC, t.code LIMIT $2", user_id, limit)
    return [TicketRow(*r.values()) for r in rows]


@dataclass(frozen=True, slots=True)
class BookingRow:
    """A booking in the caller's history ("My Tickets" in the web UI): its event as the ticket
    prints it, and its tickets, void ones (of a cancelled booking) included."""

    id: BookingId
    event_id: EventId
    event_name: str
    venue: str | None
    starts_at: datetime | None
    quantity: int
    status: BookingStatus
    created_at: datetime
    tickets: tuple[TicketInfo, ...]
    #: A hold's deadline (kept after it ends; only a `held` booking answers with it).
    expires_at: datetime | None = None
    #: A paid event's booking: its price in the currency's minor unit, and the currency.
    amount_cents: int | None = None
    currency: str | None = None
    #: A hold's warning time (`Outcome.warn_at`).
    warn_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's MyBooking object: a held one with its deadline and price, as
        `GET /api/bookings/{id}` has them, so a list needs no read per hold."""
        body: dict[str, Any] = {
            "id": str(self.id), "eventId": self.event_id, "eventName": self.event_name,
            "venue": self.venue, "startsAt": _instant(self.starts_at),
            "quantity": self.quantity, "status": self.status.value,
            "createdAt": _instant(self.created_at),
            "tickets": [{"id": str(t.id), "code": t.code, "void": t.void}
                        for t in self.tickets]}
        if self.expires_at is not None and self.status is BookingStatus.HELD:
            body["expiresAt"] = _instant(self.expires_at)
            body["warnAt"] = _instant(self.warn_at)
        if self.amount_cents is not None:
            body["amountCents"], body["currency"] = self.amount_cents, self.currency
        return body


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


_USER_BOOKINGS_SQL = """
SELECT b.id, b.event_id, e.name, e.venue, e.starts_at, b.quantity, b.status, b.created_at,
       b.expires_at, b.amount_cents, b.currency, e.hold_seconds,""" + _TICKET_ARRAYS + """
FROM bookings b JOIN events e ON e.id = b.event_id
     LEFT JOIN tickets t ON t.booking_id = b.id
WHERE b.user_id = $1 AND b.status <> 'rejected'
GROUP BY b.id, e.id
ORDER BY b.created_at DESC, b.id
LIMIT $2
"""


async def user_bookings(db: asyncpg.Pool, user_id: UserId,
                        limit: int = 200) -> list[BookingRow]:
    """A user's bookings, newest first, refused ones left out (they never held a seat);
    one read on the (user_id, created_at) index."""
    rows = await db.fetch(_USER_BOOKINGS_SQL, user_id, limit)
    return [BookingRow(r["id"], r["event_id"], r["name"], r["venue"], r["starts_at"],
                       r["quantity"], BookingStatus(r["status"]), r["created_at"],
                       _tickets(r), r["expires_at"], r["amount_cents"], r["currency"],
                       _warn_at(r))
            for r in rows]
