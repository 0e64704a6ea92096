"""Events: create, edit, list, read — with live seats left."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from engine.currencies import DEFAULT_CURRENCY
from engine.domain import availability
from engine.errors import (
    CapacityBelowSold,
    EventCancelled,
    Forbidden,
    IdempotencyMismatch,
    InvalidWaitingRoom,
    NotFound,
)
from engine.storage.database import write_transaction
from engine.storage.users import User
from engine.types import EventId, Role, UserId

_COLUMNS = ("id, vendor_id, name, venue, starts_at, sale_starts_at, capacity, sold,"
            " per_user_limit, price_cents, currency, hold_seconds, held, waitlist,"
            " refundable_until, cancelled_at,"
            " waiting_room, admit_per_minute, queue_opens_at, admission_seconds, admit_factor")
#: One event's columns: with its description, which a list leaves out (up to 5000
#: characters each, for a list that only shows names, dates and seats).
_ONE = f"{_COLUMNS}, description"

#: API field -> column, for the fields a vendor may set.
EDITABLE = {"name": "name", "venue": "venue", "startsAt": "starts_at",
            "saleStartsAt": "sale_starts_at", "totalTickets": "capacity",
            "perUserLimit": "per_user_limit", "priceCents": "price_cents",
            "currency": "currency", "holdSeconds": "hold_seconds", "waitlist": "waitlist",
            "refundableUntil": "refundable_until", "description": "description"}

#: The `waitingRoom` object's fields -> columns (the object is set as a whole).
ROOM_COLUMNS = {"enabled": "waiting_room", "admitPerMinute": "admit_per_minute",
                "queueOpensAt": "queue_opens_at", "admissionSeconds": "admission_seconds",
                "admitFactor": "admit_factor"}


@dataclass(frozen=True, slots=True)
class Event:
    """An event and its stock at the time it was read."""

    id: EventId
    vendor_id: UserId
    name: str
    venue: str | None
    starts_at: datetime | None
    sale_starts_at: datetime | None
    capacity: int
    sold: int
    per_user_limit: int | None
    price_cents: int = 0
    currency: str = DEFAULT_CURRENCY
    hold_seconds: int = 600
    #: Seats in open holds: out of sale until paid or expired.
    held: int = 0
    #: Whether buyers may join its waiting list once sold out.
    waitlist: bool = True
    #: Until when a buyer may cancel a confirmed paid booking and be refunded (None: never).
    refundable_until: datetime | None = None
    #: When its organizer cancelled it (None: it stands).
    cancelled_at: datetime | None = None
    #: The waiting room in front of its sale (engine/waiting_room.py): on, its admission
    #: rate cap (None: as fast as the sale absorbs), when joining opens (None: any time),
    #: how long an admission lasts, and the admitted-but-unused buyers at most per seat left.
    waiting_room: bool = False
    admit_per_minute: int | None = None
    queue_opens_at: datetime | None = None
    admission_seconds: int = 300
    admit_factor: float = 2.0
    #: Plain text, "" when it has none; None when not read (a list leaves it out).
    description: str | None = None

    @property
    def paid(self) -> bool:
        """Whether a booking holds its seats until paid, instead of confirming at once."""
        return self.price_cents > 0

    @property
    def available(self) -> int:
        """Seats left: neither sold nor held (none once cancelled)."""
        return 0 if self.cancelled else self.capacity - self.sold - self.held

    @property
    def cancelled(self) -> bool:
        """Whether its organizer cancelled it."""
        return self.cancelled_at is not None

    def to_json(self, now: datetime, available: int | None = None) -> dict[str, Any]:
        """The API's event object; `available` overrides the stored count with a fresher one."""
        left = self.available if available is None else available
        body: dict[str, Any] = {
            "id": self.id, "name": self.name, "venue": self.venue,
            "startsAt": _iso(self.starts_at), "totalTickets": self.capacity,
            "availableTickets": left, "perUserLimit": self.per_user_limit,
            "saleStartsAt": _iso(self.sale_starts_at), "vendorId": self.vendor_id,
            "priceCents": self.price_cents, "currency": self.currency,
            "holdSeconds": self.hold_seconds, "waitlist": self.waitlist,
            "refundableUntil": _iso(self.refundable_until),
            "cancelledAt": _iso(self.cancelled_at),
            "waitingRoom": {"enabled": self.waiting_room,
                            "admitPerMinute": self.admit_per_minute,
                            "queueOpensAt": _iso(self.queue_opens_at),
                            "admissionSeconds": self.admission_seconds,
                            "admitFactor": self.admit_factor},
            "status": availability(self.capacity, self.capacity - left, self.sale_starts_at,
                                   now, cancelled=self.cancelled).value,
        }
        if self.description is not None:
            body["description"] = self.description
        return body


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _moment(value: datetime | None) -> datetime | None:
    """A stored timestamp, always aware. asyncpg reads `-infinity` / `infinity` as the naive
    `datetime.min` / `datetime.max`, which no aware clock can be compared with: migration
    0002 refuses them, but a reader must survive a database it did not write. -infinity
    reads as no date (a sale open since forever is open), infinity as the far future."""
    if value is None or value.tzinfo is not None:
        return value
    return None if value == datetime.min else value.replace(tzinfo=UTC)


def _event(row: asyncpg.Record) -> Event:
    return Event(row["id"], row["vendor_id"], row["name"], row["venue"],
                 _moment(row["starts_at"]), _moment(row["sale_starts_at"]), row["capacity"],
                 row["sold"], row["per_user_limit"], row["price_cents"], row["currency"],
                 row["hold_seconds"], row["held"], row["waitlist"],
                 _moment(row["refundable_until"]), _moment(row["cancelled_at"]),
                 row["waiting_room"], row["admit_per_minute"], _moment(row["queue_opens_at"]),
                 row["admission_seconds"], row["admit_factor"],
                 row.get("description"))  # absent from a list's rows


def check_room(fields: dict[str, Any]) -> None:
    """`InvalidWaitingRoom` when the room would open its queue after the sale starts (the
    pre-queue exists only between the two)."""
    opens, sale = fields.get("queue_opens_at"), fields.get("sale_starts_at")
    if opens is not None and sale is not None and opens > sale:
        raise InvalidWaitingRoom("waitingRoom.queueOpensAt must not be after saleStartsAt")


def _digest(fields: dict[str, Any]) -> bytes:
    """What identifies a create's request: its column values, in a canonical form."""
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).digest()


async def create_event(db: asyncpg.Pool, vendor: User, fields: dict[str, Any],
                       key: str | None = None) -> Event:
    """Insert an event owned by `vendor`; `fields` are validated column values.

    With the vendor's `key` (an Idempotency-Key), a create the vendor already made with it
    returns that event (as it is now) instead of making a second; the same key with other
    fields is `IdempotencyMismatch`. The write commits through `write_transaction`, so a
    commit whose answer was lost is `OutcomeUnknown`, never "not done".
    """
    check_room(fields)
    cols = list(fields)
    values = list(fields.values())
    if key is not None:
        cols += ["creation_key", "creation_digest"]
        values += [key, _digest(fields)]
    placeholders = ", ".join(f"${i}" for i in range(2, len(cols) + 2))
    insert = (f"INSERT INTO events (vendor_id, {', '.join(cols)}) VALUES ($1, {placeholders})"
              + (" ON CONFLICT (vendor_id, creation_key) WHERE creation_key IS NOT NULL"
                 " DO NOTHING" if key is not None else "")
              + f" RETURNING {_ONE}")
    async with write_transaction(db) as conn:
        row = await conn.fetchrow(insert, vendor.id, *values)
        if row is None:  # the key made an event before: that one, if the request matches
            row = await conn.fetchrow(
                f"SELECT {_ONE}, creation_digest FROM events"
                " WHERE vendor_id = $1 AND creation_key = $2", vendor.id, key)
            if row["creation_digest"] != values[-1]:
                raise IdempotencyMismatch(
                    "this Idempotency-Key created an event with other fields")
    return _event(row)


async def update_event(db: asyncpg.Pool, event_id: EventId, editor: User,
                       fields: dict[str, Any]) -> Event:
    """Apply an edit by its vendor or an admin; capacity may never drop below what is sold.

    Every edit bumps the owner epoch: the shard actor holding the event in memory is fenced
    out at its next write, reloads, and so decides with the new capacity and limits.
    """
    async with write_transaction(db) as conn:
        row = await conn.fetchrow(f"SELECT {_ONE} FROM events WHERE id = $1 FOR UPDATE",
                                  event_id)
        if row is None:
            raise NotFound(f"no event {event_id}")
        if editor.role is not Role.ADMIN and row["vendor_id"] != editor.id:
            raise Forbidden("only the event's vendor or an admin may edit it")
        if row["cancelled_at"] is not None:
            raise EventCancelled("the event was cancelled: it can no longer be edited")
        capacity = fields.get("capacity")
        taken = row["sold"] + row["held"]  # held seats are promised until they expire
        if capacity is not None and capacity < taken:
            raise CapacityBelowSold(
                f"{taken} seats are sold or held; capacity cannot be {capacity}", sold=taken)
        if not fields:
            return _event(row)
        check_room({**dict(row), **fields})
        sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(fields, start=2))
        updated = await conn.fetchrow(
            f"UPDATE events SET {sets}, owner_epoch = owner_epoch + 1, updated_at = now()"
            f" WHERE id = $1 RETURNING {_ONE}", event_id, *fields.values())
        return _event(updated)


async def get_event(db: asyncpg.Pool | asyncpg.Connection, event_id: EventId) -> Event:
    """One event; `NotFound` if there is none."""
    row = await db.fetchrow(f"SELECT {_ONE} FROM events WHERE id = $1", event_id)
    if row is None:
        raise NotFound(f"no event {event_id}")
    return _event(row)


async def organizer_name(db: asyncpg.Pool | asyncpg.Connection,
                         event_id: EventId) -> str | None:
    """The display name of the account that organizes an event (None: it gave none, or no
    such event). Its email stays private: the event page shows the name only."""
    name = await db.fetchval("SELECT u.name FROM events e JOIN users u ON u.id = e.vendor_id"
                             " WHERE e.id = $1", event_id)
    return None if name is None else str(name)


async def seats_left(db: asyncpg.Pool | asyncpg.Connection, event_id: EventId) -> int | None:
    """Seats still on sale for one event, as committed (None: no such event)."""
    value = await db.fetchval("SELECT CASE WHEN cancelled_at IS NULL"
                              " THEN capacity - sold - held ELSE 0 END FROM events"
                              " WHERE id = $1", event_id)
    return None if value is None else int(value)


async def list_events(db: asyncpg.Pool | asyncpg.Connection, *, limit: int = 200,
                      offset: int = 0) -> list[Event]:
    """Events, soonest first (undated last), paged."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM events ORDER BY starts_at NULLS LAST, id"
        " LIMIT $1 OFFSET $2", limit, offset)
    return [_event(r) for r in rows]
