"""The door's SQL: load an event's tickets for check-in, write the check-ins of a batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from engine.door import Door, DoorTicket
from engine.errors import DuplicateWrite
from engine.types import EventId, UserId

#: A check-in to write: ticket id, when, the attempt that did it, who scanned.
CheckinRow = tuple[uuid.UUID, datetime, uuid.UUID, UserId]


async def load_doors(db: asyncpg.Pool | asyncpg.Connection,
                     event_ids: Sequence[EventId]) -> dict[EventId, Door]:
    """Every ticket of these events (void ones too: "void" is an answer, "unknown" another),
    one door per event, even for an event without tickets."""
    rows = await db.fetch(
        "SELECT id, code, booking_id, event_id, voided_at IS NOT NULL AS void,"
        " checked_in_at, checkin_id FROM tickets WHERE event_id = ANY($1::bigint[])",
        list(event_ids))
    doors = {event_id: Door() for event_id in event_ids}
    for r in rows:
        doors[r["event_id"]].add(DoorTicket(r["id"], r["code"], r["booking_id"], r["void"],
                                            r["checked_in_at"], r["checkin_id"]))
    return doors


async def write_checkins(conn: asyncpg.Connection, checkins: Sequence[CheckinRow]) -> None:
    """Mark these tickets checked in; `DuplicateWrite` unless every one was valid and not
    checked in yet (then the batch was decided on a door that is not the stored one)."""
    if not checkins:
        return
    done = await conn.fetchval(
        "WITH marked AS (UPDATE tickets t SET checked_in_at = d.at, checkin_id = d.attempt,"
        " checked_in_by = d.by"
        " FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::bigint[])"
        " AS d(id, at, attempt, by)"
        " WHERE t.id = d.id AND t.checked_in_at IS NULL AND t.voided_at IS NULL RETURNING 1)"
        " SELECT count(*) FROM marked", *zip(*checkins, strict=True))
    if done != len(checkins):
        raise DuplicateWrite(f"{len(checkins) - done} tickets were no longer open at the door")


async def checked_in_count(db: asyncpg.Pool | asyncpg.Connection, event_id: EventId) -> int:
    """Tickets of this event checked in at the door."""
    return int(await db.fetchval(
        "SELECT count(*) FROM tickets WHERE event_id = $1 AND checked_in_at IS NOT NULL",
        event_id))
