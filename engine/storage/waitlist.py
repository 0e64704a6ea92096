"""Waiting-list entries as their owners read them (the owning actor alone writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from engine.types import BookingId, EventId, UserId

#: A buyer's live entries: waiting, or offered with the offer still open. A position counts
#: the waiting entries ahead on the partial index (event_id, seq): the rows up to this one.
_MINE = """
SELECT w.id, w.event_id, w.quantity, w.status, b.expires_at,
       CASE WHEN w.status = 'waiting' THEN
           (SELECT count(*) FROM waitlist_entries a
             WHERE a.event_id = w.event_id AND a.status = 'waiting' AND a.seq <= w.seq)
       END AS position
FROM waitlist_entries w LEFT JOIN bookings b ON b.id = w.id
WHERE w.user_id = $1 AND (w.status = 'waiting' OR (w.status = 'offered' AND b.status = 'held'))
ORDER BY w.joined_at, w.id
"""


@dataclass(frozen=True, slots=True)
class WaitlistEntry:
    """One buyer's place on one event's waiting list, or the offer it became."""

    id: BookingId
    event_id: EventId
    quantity: int
    #: `waiting` (with `position`), `offered` (with `expires_at`: its held booking has this
    #: id), or `left`.
    status: str
    position: int | None = None
    expires_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's waiting-list entry."""
        body: dict[str, Any] = {"id": str(self.id), "eventId": self.event_id,
                                "quantity": self.quantity, "status": self.status,
                                "position": self.position}
        if self.expires_at is not None:
            body["expiresAt"] = self.expires_at.isoformat().replace("+00:00", "Z")
        return body


async def user_entries(db: asyncpg.Pool | asyncpg.Connection,
                       user_id: UserId) -> list[WaitlistEntry]:
    """The buyer's live entries, oldest first, with their positions."""
    rows = await db.fetch(_MINE, user_id)
    return [WaitlistEntry(r["id"], r["event_id"], r["quantity"], r["status"],
                          r["position"], r["expires_at"]) for r in rows]
