"""The payments outbox (migration 0008): one row per attempt to pay a held booking, written
before the provider is asked and moved along as its answers come."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from engine.storage.database import write_transaction
from engine.types import BookingId, EventId, UserId

_COLUMNS = ("id, booking_id, user_id, event_id, amount_cents, currency, provider, client_key,"
            " status, charge_id, updated_at, refund_reason")


@dataclass(frozen=True, slots=True)
class Payment:
    """One attempt to pay a held booking."""

    id: uuid.UUID
    booking_id: BookingId
    user_id: UserId
    event_id: EventId
    amount_cents: int
    currency: str
    provider: str
    client_key: str | None
    status: str
    charge_id: str | None
    updated_at: datetime
    #: Why a cancel owes its money back (`refunding`, then `refunded`); None otherwise.
    refund_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """Money given back for a booking, as its owner reads it."""

    #: `pending` (owed: the provider has not been asked, or not answered yet) or `refunded`.
    status: str
    amount_cents: int
    currency: str
    #: Why: `buyer_cancelled`, `event_cancelled`, or `late_payment` (it came after the hold).
    reason: str
    #: When it was made (None while pending).
    refunded_at: datetime | None


def _payment(row: asyncpg.Record) -> Payment:
    return Payment(*row.values())


async def begin(db: asyncpg.Pool, payment_id: uuid.UUID, booking_id: BookingId,
                user_id: UserId, event_id: EventId, amount_cents: int, currency: str,
                provider: str, client_key: str | None) -> Payment | None:
    """Record an attempt as `charging` before any charge; None when the booking already has
    one in flight or paid (the unique index: at most one successful charge per booking).
    `OutcomeUnknown` if the answer to its COMMIT was lost: the attempt may be recorded, so
    no charge may follow, and a retry with its key finds it."""
    async with write_transaction(db) as conn:
        row = await conn.fetchrow(
            "INSERT INTO payments (id, booking_id, user_id, event_id, amount_cents, currency,"
            " provider, client_key, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
            f" 'charging') ON CONFLICT DO NOTHING RETURNING {_COLUMNS}", payment_id,
            booking_id, user_id, event_id, amount_cents, currency, provider, client_key)
    return None if row is None else _payment(row)


async def get(db: asyncpg.Pool, payment_id: uuid.UUID) -> Payment | None:
    """One attempt, by its id (the provider's idempotency key)."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM payments WHERE id = $1", payment_id)
    return None if row is None else _payment(row)


async def by_key(db: asyncpg.Pool, booking_id: BookingId, client_key: str) -> Payment | None:
    """The attempt a pay request with this Idempotency-Key made, if any."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM payments"
                            " WHERE booking_id = $1 AND client_key = $2", booking_id, client_key)
    return None if row is None else _payment(row)


async def live(db: asyncpg.Pool, booking_id: BookingId) -> Payment | None:
    """The booking's attempt in flight (at the customer's step too) or paid, if any."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM payments WHERE booking_id = $1"
        " AND status IN ('charging', 'requires_action', 'succeeded', 'captured')", booking_id)
    return None if row is None else _payment(row)


async def status(db: asyncpg.Pool, payment_id: uuid.UUID) -> str | None:
    """An attempt's status now."""
    value = await db.fetchval("SELECT status FROM payments WHERE id = $1", payment_id)
    return None if value is None else str(value)


async def move(db: asyncpg.Pool, payment_id: uuid.UUID, before: str, after: str,
               charge_id: str | None = None) -> bool:
    """`before` -> `after` (with the charge id once money moved); False if the row was not
    in `before` any more (another process moved it first)."""
    moved = await db.fetchval(
        "UPDATE payments SET status = $3, charge_id = coalesce($4, charge_id),"
        " updated_at = now() WHERE id = $1 AND status = $2 RETURNING 1",
        payment_id, before, after, charge_id)
    return bool(moved)


async def unsettled(db: asyncpg.Pool, older_than_seconds: float) -> list[Payment]:
    """Attempts whose end is not known (charging, at the customer's step, or money taken and
    not yet captured or refunded) untouched for this long: what recovery resolves."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM payments"
        " WHERE status IN ('charging', 'requires_action', 'succeeded')"
        " AND updated_at <= now() - make_interval(secs => $1) ORDER BY updated_at",
        older_than_seconds)
    return [_payment(r) for r in rows]


async def waiting(db: asyncpg.Pool, *, booking_id: BookingId | None = None,
                  event_id: EventId | None = None) -> list[Payment]:
    """Attempts at their customer step, of one booking or one event: what a cancel of it
    leaves for the checkout to cancel at the provider."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM payments WHERE status = 'requires_action'"
        " AND ($1::uuid IS NULL OR booking_id = $1) AND ($2::bigint IS NULL OR event_id = $2)"
        " ORDER BY updated_at", booking_id, event_id)
    return [_payment(r) for r in rows]


async def refunds_owed(db: asyncpg.Pool, *, booking_id: BookingId | None = None,
                       event_id: EventId | None = None,
                       older_than_seconds: float = 0.0) -> list[Payment]:
    """Payments a cancel turned into refunds not yet made (of one booking or one event, or
    all untouched this long): what the refunder settles."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM payments WHERE status = 'refunding'"
        " AND ($1::uuid IS NULL OR booking_id = $1) AND ($2::bigint IS NULL OR event_id = $2)"
        " AND updated_at <= now() - make_interval(secs => $3) ORDER BY updated_at",
        booking_id, event_id, older_than_seconds)
    return [_payment(r) for r in rows]


async def refund_of(db: asyncpg.Pool, booking_id: BookingId) -> Refund | None:
    """The booking's latest refund, owed or made, if it has one (more than one only when a
    charge that came after its attempt was closed was given back, and the buyer paid again)."""
    row = await db.fetchrow(
        "SELECT status, amount_cents, currency, refund_reason, updated_at FROM payments"
        " WHERE booking_id = $1 AND status IN ('refunding', 'refunded')"
        " ORDER BY updated_at DESC LIMIT 1", booking_id)
    if row is None:
        return None
    made = row["status"] == "refunded"
    return Refund("refunded" if made else "pending", row["amount_cents"], row["currency"],
                  row["refund_reason"] or "late_payment", row["updated_at"] if made else None)


async def revenue(db: asyncpg.Pool, event_id: EventId) -> int:
    """What an event's buyers paid and kept paid, in its currency's minor unit: captured
    payments only (a refunded or refunding one gave the money back)."""
    value = await db.fetchval(
        "SELECT coalesce(sum(amount_cents), 0) FROM payments"
        " WHERE event_id = $1 AND status = 'captured'", event_id)
    return int(value)
