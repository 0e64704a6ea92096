"""The waiting rooms' rows (migration 0013): what a shard actor's batch writes of its events'
rooms, what a new owner loads, and what a gateway loads to answer from memory."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from engine.domain import EventLedger
from engine.messages import RoomEntry, RoomUpdate
from engine.types import EventId, UserId
from engine.waiting_room import Entry, QueueId, QueueStatus, RoomConfig, WaitingRoom, restore

#: One entry's row: id, event, user, join_no, prequeued, seq, admit_no, status, joined_at,
#: admission_expires_at.
EntryRow = tuple[QueueId, EventId, UserId, int, bool, int | None, int | None, str, datetime,
                 datetime | None]


@dataclass(slots=True)
class RoomWrite:
    """What one batch changed in waiting rooms, written after its bookings, and the
    broadcasts to send once it is committed."""

    #: event -> (seed, opened, closed, version, head, admissions per second, next due)
    rooms: dict[EventId, tuple[bytes, bool, bool, int, int, float, datetime | None]] = field(
        default_factory=dict)
    #: Entries as the batch left them, by id (the last change wins).
    entries: dict[QueueId, EntryRow] = field(default_factory=dict)
    #: Rooms whose next due moment alone moved (nothing broadcast): event -> due.
    dues: dict[EventId, datetime | None] = field(default_factory=dict)
    updates: list[RoomUpdate] = field(default_factory=list)

    def entry(self, event_id: EventId, e: Entry) -> None:
        """Record an entry's state as it is now."""
        self.entries[e.queue_id] = (e.queue_id, event_id, e.user_id, e.join_no, e.prequeued,
                                    e.seq, e.admit_no, e.status.value, e.joined_at,
                                    e.admission_expires_at)

    def __bool__(self) -> bool:
        return bool(self.rooms or self.entries or self.dues)


async def write_rooms(conn: asyncpg.Connection, write: RoomWrite) -> None:
    """Upsert the batch's rooms and entries. Entries go in join order, so an account's
    finished entry is updated before its new one is inserted (one active each)."""
    if write.rooms:
        ids = list(write.rooms)
        columns = zip(*(write.rooms[i] for i in ids), strict=True)
        await conn.execute(
            "INSERT INTO queue_rooms (event_id, seed, opened_at, closed_at, version, head,"
            " rate, due_at) SELECT d.id, d.seed, CASE WHEN d.opened THEN now() END,"
            " CASE WHEN d.closed THEN now() END, d.version, d.head, d.rate, d.due"
            " FROM unnest($1::bigint[], $2::bytea[], $3::bool[], $4::bool[], $5::bigint[],"
            " $6::bigint[], $7::float8[], $8::timestamptz[])"
            " AS d(id, seed, opened, closed, version, head, rate, due)"
            " ON CONFLICT (event_id) DO UPDATE SET"
            " opened_at = coalesce(queue_rooms.opened_at, EXCLUDED.opened_at),"
            " closed_at = coalesce(queue_rooms.closed_at, EXCLUDED.closed_at),"
            " version = EXCLUDED.version, head = EXCLUDED.head, rate = EXCLUDED.rate,"
            " due_at = EXCLUDED.due_at, updated_at = now()", ids, *columns)
    if write.dues:
        # Only the due moment: the rest of the row is what the gateways last heard.
        await conn.execute(
            "UPDATE queue_rooms q SET due_at = d.due FROM unnest($1::bigint[],"
            " $2::timestamptz[]) AS d(id, due) WHERE q.event_id = d.id",
            list(write.dues), list(write.dues.values()))
    if write.entries:
        rows = sorted(write.entries.values(), key=lambda r: (r[1], r[3]))
        await conn.execute(
            "INSERT INTO queue_entries (id, event_id, user_id, join_no, prequeued, seq,"
            " admit_no, status, joined_at, admission_expires_at)"
            " SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[],"
            " $5::bool[], $6::bigint[], $7::bigint[], $8::text[], $9::timestamptz[],"
            " $10::timestamptz[])"
            " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, seq = EXCLUDED.seq,"
            " admit_no = EXCLUDED.admit_no,"
            " admission_expires_at = EXCLUDED.admission_expires_at, updated_at = now()",
            *zip(*rows, strict=True))


@dataclass(slots=True)
class LoadedRoom:
    """A room as stored: the rules' state and the version of its last change."""

    room: WaitingRoom
    version: int
    #: What its last broadcast said of the waiting list (None: nothing since the load).
    waitlist: bool | None = None
    #: Its next due moment as stored (`queue_rooms.due_at`: what the sweep reads).
    due: datetime | None = None


def _config(row: asyncpg.Record) -> RoomConfig:
    return RoomConfig(row["sale_starts_at"], row["queue_opens_at"], row["admit_per_minute"],
                      row["admission_seconds"], row["admit_factor"])


def _entry(r: asyncpg.Record) -> Entry:
    return Entry(r["id"], r["user_id"], r["joined_at"], QueueStatus(r["status"]), r["seq"],
                 r["admission_expires_at"], r["join_no"], r["prequeued"], r["admit_no"])


async def load_rooms(pool: asyncpg.Pool, ledgers: dict[EventId, EventLedger],
                     new_seed: bytes | None = None) -> dict[EventId, LoadedRoom]:
    """The rooms of these events that have one enabled, rebuilt from their rows (a room
    nobody joined yet gets a fresh seed, `new_seed` or random, written with its first
    change). One read each of settings, rooms and entries."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        settings = await conn.fetch(
            "SELECT id, sale_starts_at, queue_opens_at, admit_per_minute, admission_seconds,"
            " admit_factor FROM events WHERE id = ANY($1::bigint[]) AND waiting_room",
            list(ledgers))
        if not settings:
            return {}
        ids = [r["id"] for r in settings]
        stored = {r["event_id"]: r for r in await conn.fetch(
            "SELECT event_id, seed, opened_at, closed_at, version, due_at FROM queue_rooms"
            " WHERE event_id = ANY($1::bigint[])", ids)}
        entries: dict[EventId, list[Entry]] = {i: [] for i in ids}
        for r in await conn.fetch(
                "SELECT id, event_id, user_id, join_no, prequeued, seq, admit_no, status,"
                " joined_at, admission_expires_at FROM queue_entries"
                " WHERE event_id = ANY($1::bigint[])", ids):
            entries[r["event_id"]].append(_entry(r))
    loaded = {}
    for row in settings:
        config = _config(row)
        got = stored.get(row["id"])
        if got is None:
            room = WaitingRoom(config, new_seed or secrets.token_bytes(16))
            loaded[row["id"]] = LoadedRoom(room, 0)
            continue
        room = restore(config, bytes(got["seed"]), entries[row["id"]],
                       opened=got["opened_at"] is not None,
                       closed=got["closed_at"] is not None)
        loaded[row["id"]] = LoadedRoom(room, got["version"], due=got["due_at"])
    return loaded


async def load_view(pool: asyncpg.Pool, event_id: EventId) -> RoomUpdate | None:
    """An event's room as stored, in the shape of a broadcast carrying every entry (None:
    nobody joined yet)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        # The waiting list is offered as the actor decides it (`offers_waitlist`): closed
        # by the sell-out, the list open, the event not cancelled.
        room = await conn.fetchrow(
            "SELECT q.opened_at, q.closed_at, q.version, q.head, q.rate,"
            " q.closed_at IS NOT NULL AND e.waitlist AND e.cancelled_at IS NULL AS waitlist"
            " FROM queue_rooms q JOIN events e ON e.id = q.event_id"
            " WHERE q.event_id = $1", event_id)
        if room is None:
            return None
        rows = await conn.fetch(
            "SELECT id, user_id, status, seq, admission_expires_at, admit_no"
            " FROM queue_entries WHERE event_id = $1 ORDER BY join_no", event_id)
    entries = tuple(RoomEntry(r["id"], r["user_id"], r["status"], r["seq"],
                              r["admission_expires_at"]) for r in rows)
    closed = room["closed_at"] is not None
    return RoomUpdate(event_id, room["version"], room["head"],
                      0 if closed else sum(e.status == "waiting" for e in entries),
                      sum(e.status == "prequeue" for e in entries),
                      room["opened_at"] is not None, closed, room["rate"], entries,
                      room["waitlist"], sum(e.status == "admitted" for e in entries),
                      sum(r["admit_no"] is not None for r in rows))


async def event_of(pool: asyncpg.Pool, queue_id: QueueId) -> EventId | None:
    """The event of a waiting-room entry (None: no such entry)."""
    value = await pool.fetchval("SELECT event_id FROM queue_entries WHERE id = $1", queue_id)
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class Admission:
    """One admission given, as the audit lists it."""

    queue_id: QueueId
    user_id: UserId
    prequeued: bool
    status: str
    #: When its window ended (or ends): the admission was given `admission_seconds` before.
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What `ticketwar queue audit` checks: the seed, the entries in join order (pre-queued
    and later), every admission in the order given, and the room's closing."""

    event_id: EventId
    seed: bytes
    opened_at: datetime | None
    closed_at: datetime | None
    prequeued: list[QueueId]
    later: list[QueueId]
    admissions: list[Admission]
    #: Accounts whose admission was used but who hold no booking of the event (never).
    used_without_booking: list[UserId]


async def audit_record(pool: asyncpg.Pool, event_id: EventId) -> AuditRecord | None:
    """The event's room as the audit reads it (None: nobody ever joined it)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        room = await conn.fetchrow(
            "SELECT seed, opened_at, closed_at FROM queue_rooms WHERE event_id = $1", event_id)
        if room is None:
            return None
        rows = await conn.fetch(
            "SELECT id, user_id, prequeued, status, admit_no, admission_expires_at"
            " FROM queue_entries WHERE event_id = $1 ORDER BY join_no", event_id)
        unbooked = await conn.fetch(
            "SELECT q.user_id FROM queue_entries q WHERE q.event_id = $1 AND q.status = 'used'"
            " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = q.event_id"
            " AND b.user_id = q.user_id AND b.status <> 'rejected')", event_id)
    given = sorted((r for r in rows if r["admit_no"] is not None), key=lambda r: r["admit_no"])
    return AuditRecord(
        event_id, bytes(room["seed"]), room["opened_at"], room["closed_at"],
        [r["id"] for r in rows if r["prequeued"]], [r["id"] for r in rows if not r["prequeued"]],
        [Admission(r["id"], r["user_id"], r["prequeued"], r["status"],
                   r["admission_expires_at"]) for r in given],
        [r["user_id"] for r in unbooked])
