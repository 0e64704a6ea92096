"""Token versions and signed-out tokens in the database (the triggers of migration
0003_sessions announce every change of either on `CHANNEL`)."""

from __future__ import annotations

import asyncpg

from engine.storage.database import write_transaction
from engine.types import UserId

#: The NOTIFY channel revocations are announced on.
CHANNEL = "ticketwar_sessions"


async def changed_versions(db: asyncpg.Pool | asyncpg.Connection) -> dict[UserId, int]:
    """Every user whose token version is not 0, and every user removed (as -1): what a
    gateway must hold to judge any token without reading (everyone else is at 0)."""
    rows = await db.fetch(
        "SELECT id, CASE WHEN deleted_at IS NULL THEN token_version ELSE -1 END AS version"
        " FROM users WHERE token_version > 0 OR deleted_at IS NOT NULL")
    return {r["id"]: r["version"] for r in rows}


async def revoked_tokens(db: asyncpg.Pool | asyncpg.Connection) -> list[tuple[str, int]]:
    """(token id, expiry in epoch seconds) of every signed-out token not yet expired."""
    rows = await db.fetch(
        "SELECT jti, extract(epoch FROM expires_at)::bigint AS expires FROM revoked_tokens"
        " WHERE expires_at > now()")
    return [(r["jti"].hex, r["expires"]) for r in rows]


async def revoke_token(db: asyncpg.Pool, token_id: str, user_id: UserId,
                       expires_at: int) -> None:
    """Sign out one token until it expires; forgets tokens that have expired meanwhile.
    `OutcomeUnknown` if the answer to its COMMIT was lost."""
    async with write_transaction(db) as conn:
        await conn.execute("DELETE FROM revoked_tokens WHERE expires_at < now()")
        await conn.execute(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at)"
            " VALUES ($1::text::uuid, $2, to_timestamp($3)) ON CONFLICT (jti) DO NOTHING",
            token_id, user_id, expires_at)


async def revoke_all(db: asyncpg.Pool, user_id: UserId) -> int | None:
    """Sign out every token of the user (bump the version); the new version, or None if the
    user is gone. `OutcomeUnknown` if the answer to its COMMIT was lost."""
    async with write_transaction(db) as conn:
        version: int | None = await conn.fetchval(
            "UPDATE users SET token_version = token_version + 1"
            " WHERE id = $1 AND deleted_at IS NULL RETURNING token_version", user_id)
    return version
