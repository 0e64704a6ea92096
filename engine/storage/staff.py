"""Door staff: accounts allowed to check tickets in for one event (table `event_staff`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from engine.storage.database import write_transaction
from engine.types import EventId, UserId


@dataclass(frozen=True, slots=True)
class StaffMember:
    """An account with check-in rights for an event."""

    event_id: EventId
    user_id: UserId
    email: str
    name: str | None
    granted_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The API's staff member object."""
        return {"eventId": self.event_id, "userId": self.user_id, "email": self.email,
                "name": self.name,
                "grantedAt": self.granted_at.isoformat().replace("+00:00", "Z")}


_SELECT = ("SELECT s.event_id, s.user_id, u.email, u.name, s.granted_at"
           " FROM event_staff s JOIN users u ON u.id = s.user_id")


def _member(row: asyncpg.Record) -> StaffMember:
    return StaffMember(row["event_id"], row["user_id"], row["email"], row["name"],
                       row["granted_at"])


async def grant(db: asyncpg.Pool, event_id: EventId, email: str,
                granted_by: UserId) -> tuple[StaffMember, bool] | None:
    """Make the account with this email staff of the event: (the member, whether newly
    granted); None when no live account has the email. `OutcomeUnknown` if the answer to
    its COMMIT was lost."""
    async with write_transaction(db) as conn:
        user_id = await conn.fetchval(
            "SELECT id FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL", email)
        if user_id is None:
            return None
        created = await conn.fetchval(
            "INSERT INTO event_staff (event_id, user_id, granted_by) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true", event_id, user_id, granted_by)
        row = await conn.fetchrow(f"{_SELECT} WHERE s.event_id = $1 AND s.user_id = $2",
                                  event_id, user_id)
    return _member(row), bool(created)


async def members(db: asyncpg.Pool, event_id: EventId) -> list[StaffMember]:
    """The event's staff, in the order they were granted."""
    rows = await db.fetch(f"{_SELECT} WHERE s.event_id = $1 ORDER BY s.granted_at, s.user_id",
                          event_id)
    return [_member(r) for r in rows]


async def revoke(db: asyncpg.Pool, event_id: EventId, user_id: UserId) -> bool:
    """Take the right away; False if the account was not staff of the event.
    `OutcomeUnknown` if the answer to its COMMIT was lost."""
    async with write_transaction(db) as conn:
        return bool(await conn.fetchval(
            "DELETE FROM event_staff WHERE event_id = $1 AND user_id = $2 RETURNING true",
            event_id, user_id))


async def is_staff(db: asyncpg.Pool, event_id: EventId, user_id: UserId) -> bool:
    """Whether the account may check tickets in for the event as its staff."""
    return bool(await db.fetchval(
        "SELECT true FROM event_staff WHERE event_id = $1 AND user_id = $2",
        event_id, user_id))
