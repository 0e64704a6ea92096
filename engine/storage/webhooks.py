"""The webhook events taken in (migration 0017): each provider event id once."""

from __future__ import annotations

import uuid

import asyncpg


async def take(db: asyncpg.Pool, provider: str, event_id: str, event_type: str,
               payment_id: uuid.UUID | None) -> bool:
    """Record an event as taken; False if its id was taken before (a repeated delivery)."""
    taken = await db.fetchval(
        "INSERT INTO payment_webhooks (provider, event_id, type, payment_id)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
        provider, event_id, event_type, payment_id)
    return bool(taken)


async def release(db: asyncpg.Pool, provider: str, event_id: str) -> None:
    """Forget an event whose handling could not finish, so its next delivery is handled."""
    await db.execute("DELETE FROM payment_webhooks WHERE provider = $1 AND event_id = $2",
                     provider, event_id)


async def forget_older_than(db: asyncpg.Pool, days: float) -> int:
    """Delete the events taken more than `days` ago; returns how many."""
    result = await db.execute(
        "DELETE FROM payment_webhooks WHERE received_at < now() - make_interval(secs => $1)",
        days * 86400.0)
    return int(result.split()[-1])
