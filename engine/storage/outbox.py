"""The notifications outbox (migration 0011): its rows are written by triggers in the
transaction of the decision they report; the sender claims a batch of them here, with what
their emails need, and records how each attempt ended in one statement.

A claim locks its rows (`FOR UPDATE SKIP LOCKED`) for the transaction the caller holds open
while sending: any number of senders share the outbox, none ever takes a row another is
sending, and a sender that dies mid-batch releases its rows unmarked — to be sent again,
with the same Message-IDs."""

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
     ORDER BY due_at LIMIT $2
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
 ORDER BY n.due_at
"""


async def claim(conn: asyncpg.Connection, now: datetime, limit: int) -> list[Notice]:
    """Lock at most `limit` of the longest-due unsent rows for the caller's transaction,
    longest-due first; empty when nothing is due (or every due row is being sent by someone
    else)."""
    notices = []
    for row in await conn.fetch(_CLAIM, now, limit):
        values = dict(row)
        values["codes"] = tuple(values["codes"])
        notices.append(Notice(**values))
    return notices


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt at a row ended: sent, to be tried again at `due_at`, or given up."""

    id: uuid.UUID
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    due_at: datetime | None = None
    #: What went wrong (a retry or a failure); a sent row keeps its last one.
    error: str | None = None

    @classmethod
    def sent(cls, notice_id: uuid.UUID, now: datetime) -> Outcome:
        """The message was accepted."""
        return cls(notice_id, sent_at=now)

    @classmethod
    def retry(cls, notice_id: uuid.UUID, due_at: datetime, reason: str) -> Outcome:
        """A transient failure: try again at `due_at`."""
        return cls(notice_id, due_at=due_at, error=reason)

    @classmethod
    def failed(cls, notice_id: uuid.UUID, now: datetime, reason: str) -> Outcome:
        """Given up: never sent, with the reason."""
        return cls(notice_id, failed_at=now, error=reason)


_RECORD = """
UPDATE notifications n
   SET sent_at = o.sent_at, failed_at = o.failed_at,
       due_at = coalesce(o.due_at, n.due_at), error = coalesce(o.error, n.error),
       attempts = n.attempts + 1
  FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[],
              $5::text[]) AS o(id, sent_at, failed_at, due_at, error)
 WHERE n.id = o.id
"""


async def record(conn: asyncpg.Connection, outcomes: list[Outcome]) -> None:
    """Record how each attempt ended, every row in one statement (nothing when empty)."""
    if outcomes:
        await conn.execute(_RECORD, [o.id for o in outcomes],
                           [o.sent_at for o in outcomes], [o.failed_at for o in outcomes],
                           [o.due_at for o in outcomes], [o.error for o in outcomes])


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
