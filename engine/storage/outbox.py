"""The notifications outbox (migration 0011): its rows are written by triggers in the
transaction of the decision they report; the sender claims one at a time here, with what its
email needs, and records how the attempt ended.

A claim locks its row (`FOR UPDATE SKIP LOCKED`) for the transaction the caller holds open
while sending: any number of senders share the outbox, none ever takes a row another is
sending, and a sender that dies mid-send releases its row unmarked — to be sent again, with
the same Message-ID."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from engine.types import BookingId

#: The channel the triggers announce new rows on (at commit).
CHANNEL = "ticketwar_outbox"
#: The triggers on bookings that write the outbox (`make actorbench --without-outbox`
#: measures the actor with them disabled).
BOOKING_TRIGGERS = ("bookings_notify_inserted", "bookings_notify_updated")


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to send, with everything its email says."""

    id: uuid.UUID
    kind: str
    #: Failed attempts so far.
    attempts: int
    #: None once the account was removed (its address is erased).
    email: str | None
    name: str | None
    booking_id: BookingId
    booking_status: str
    quantity: int
    event_name: str
    venue: str | None
    starts_at: datetime | None
    #: The hold's deadline (held, then expired bookings).
    expires_at: datetime | None
    #: The booking's price, or for a refund the amount refunded, in minor units.
    amount_cents: int | None
    currency: str | None
    #: The booking's ticket codes, in order (a receipt lists them).
    codes: tuple[str, ...]
    #: A refund a cancel owed: `buyer_cancelled` or `event_cancelled` (None: a late payment).
    refund_reason: str | None = None
    #: The booking is a waiting-list offer (seats that came back), not a buyer's own hold.
    offer: bool = False


_CLAIM = """
WITH claimed AS (
    SELECT id FROM notifications
     WHERE sent_at IS NULL AND failed_at IS NULL AND due_at <= $1
     ORDER BY due_at LIMIT 1
       FOR UPDATE SKIP LOCKED)
SELECT n.id, n.kind, n.attempts,
       CASE WHEN u.deleted_at IS NULL THEN u.email END AS email, u.name,
       b.id AS booking_id, b.status AS booking_status, b.quantity,
       e.name AS event_name, e.venue, e.starts_at, b.expires_at,
       coalesce(p.amount_cents, b.amount_cents) AS amount_cents,
       coalesce(p.currency, b.currency) AS currency,
       ARRAY(SELECT t.code FROM tickets t WHERE t.booking_id = b.id ORDER BY t.code) AS codes,
       p.refund_reason, b.offer
  FROM claimed c
  JOIN notifications n ON n.id = c.id
  JOIN bookings b ON b.id = n.booking_id
  JOIN events e ON e.id = b.event_id
  JOIN users u ON u.id = b.user_id
  LEFT JOIN payments p ON p.id = n.payment_id
"""


async def claim(conn: asyncpg.Connection, now: datetime) -> Notice | None:
    """Lock the longest-due unsent row for the caller's transaction; None when nothing is
    due (or every due row is being sent by someone else)."""
    row = await conn.fetchrow(_CLAIM, now)
    if row is None:
        return None
    values = dict(row)
    values["codes"] = tuple(values["codes"])
    return Notice(**values)


async def sent(conn: asyncpg.Connection, notice_id: uuid.UUID, now: datetime) -> None:
    """The message was accepted."""
    await conn.execute("UPDATE notifications SET sent_at = $2, attempts = attempts + 1"
                       " WHERE id = $1", notice_id, now)


async def retry(conn: asyncpg.Connection, notice_id: uuid.UUID, due_at: datetime,
                reason: str) -> None:
    """A transient failure: try again at `due_at`."""
    await conn.execute("UPDATE notifications SET due_at = $2, error = $3,"
                       " attempts = attempts + 1 WHERE id = $1", notice_id, due_at, reason)


async def failed(conn: asyncpg.Connection, notice_id: uuid.UUID, now: datetime,
                 reason: str) -> None:
    """Given up: never sent, with the reason."""
    await conn.execute("UPDATE notifications SET failed_at = $2, error = $3,"
                       " attempts = attempts + 1 WHERE id = $1", notice_id, now, reason)


async def next_due(db: asyncpg.Pool | asyncpg.Connection) -> datetime | None:
    """When the earliest unsent row falls due (None: nothing left to send)."""
    value = await db.fetchval("SELECT min(due_at) FROM notifications"
                              " WHERE sent_at IS NULL AND failed_at IS NULL")
    return value if isinstance(value, datetime) else None


async def prune(db: asyncpg.Pool | asyncpg.Connection, settled_before: datetime,
                limit: int) -> int:
    """Delete at most `limit` rows sent or given up before `settled_before`; how many.

    Bounded so that one call holds its locks briefly however much has piled up (the caller
    repeats it); rows a sender has claimed are skipped, never waited for."""
    status = await db.execute(
        "DELETE FROM notifications WHERE id IN ("
        " SELECT id FROM notifications"
        "  WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL)"
        "    AND coalesce(sent_at, failed_at) < $1"
        "  LIMIT $2 FOR UPDATE SKIP LOCKED)", settled_before, limit)
    return int(status.split()[-1])
