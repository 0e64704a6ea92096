"""The SQL of a cancel that owes money back or ends a whole event: shared by the shard actor's
batch write and the per-request strategies (`locked`, `naive`), so an event is cancelled the
same way whichever decides it."""

from __future__ import annotations

from typing import Any

import asyncpg

from engine.types import EventId


async def owe_refunds(conn: asyncpg.Connection, where: str, ids: list[Any],
                      reason: str) -> None:
    """Turn the payments of confirmed bookings about to be cancelled into refunds owed: the
    outbox rows the refunder settles (a `succeeded` one is a payment whose booking the actor
    confirmed and the checkout has not marked captured yet)."""
    await conn.execute(
        "UPDATE payments p SET status = 'refunding', refund_reason = $2, updated_at = now()"
        " FROM bookings b WHERE b.id = p.booking_id AND b.status = 'confirmed'"
        f" AND p.status IN ('succeeded', 'captured') AND {where}", ids, reason)


async def cancel_events(conn: asyncpg.Connection, event_ids: list[EventId]) -> None:
    """Cancel these events whole, after everything else decided for them (their holds ended
    already): every confirmed booking refunded if paid, then void; waiting entries taken
    off; the list shut. The caller moves the seat counters."""
    await owe_refunds(conn, "b.event_id = ANY($1::bigint[])", event_ids, "event_cancelled")
    await conn.execute("UPDATE tickets SET voided_at = now()"
                       " WHERE event_id = ANY($1::bigint[]) AND voided_at IS NULL", event_ids)
    await conn.execute("UPDATE bookings SET status = 'cancelled', decided_at = now()"
                       " WHERE event_id = ANY($1::bigint[]) AND status = 'confirmed'",
                       event_ids)
    await conn.execute("UPDATE waitlist_entries SET status = 'left', updated_at = now()"
                       " WHERE event_id = ANY($1::bigint[]) AND status = 'waiting'", event_ids)
    await conn.execute("UPDATE events SET cancelled_at = now(), waitlist = false"
                       " WHERE id = ANY($1::bigint[])", event_ids)
