"""What a shard actor needs from PostgreSQL: claim events, look up prior outcomes, and write a
whole batch in one transaction fenced by the owner epoch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime

import asyncpg

from engine.domain import EventLedger, Hold, KeyPin, warn_lead
from engine.door import Door
from engine.errors import DuplicateWrite, KeyConflict, PoisonBatch, StaleOwner
from engine.messages import Command, Outcome, TicketInfo
from engine.storage import bookings
from engine.storage.cancellation import cancel_events, owe_refunds
from engine.storage.database import translate_db_errors
from engine.storage.deadletters import record_dead
from engine.storage.door import CheckinRow, load_doors, write_checkins
from engine.storage.queue_rooms import LoadedRoom, RoomWrite, load_rooms, write_rooms
from engine.types import BookingId, EventId, UserId
from engine.waitlist import Entry


@dataclass(slots=True)
class BatchWrite:
    """Everything one batch decided, written in one transaction."""

    #: event id -> (owner epoch held, change of the sold counter, change of the held one)
    events: dict[EventId, tuple[int, int, int]] = field(default_factory=dict)
    #: New bookings: id, event, user, quantity, status, reason, hold deadline, amount,
    #: currency.
    bookings: list[tuple[BookingId, EventId, UserId, int, str, str | None, datetime | None,
                         int | None, str | None]] = field(default_factory=list)
    tickets: list[tuple[object, str, BookingId, EventId, UserId]] = field(default_factory=list)
    #: Confirmed or held bookings cancelled (a confirmed one's tickets are voided).
    cancelled: list[BookingId] = field(default_factory=list)
    #: Holds paid (confirmed; their tickets are in `tickets`) and holds expired.
    paid: list[BookingId] = field(default_factory=list)
    expired: list[BookingId] = field(default_factory=list)
    #: The deadlines of the holds in `expired`, in the same order (how late each came is a
    #: metric, observed after the commit).
    expired_deadlines: list[datetime] = field(default_factory=list)
    #: Idempotency keys pinned by this batch: (user, key, booking id, event id, quantity).
    keys: list[tuple[UserId, str, BookingId, EventId, int]] = field(default_factory=list)
    #: Tickets checked in at the door (after the batch's new tickets, before its cancels).
    checkins: list[CheckinRow] = field(default_factory=list)
    #: The waiting list's changes (`WaitlistWrite`), written after the bookings.
    waitlist: WaitlistWrite = field(default_factory=lambda: WaitlistWrite())
    #: Confirmed paid bookings in `cancelled` whose buyer is refunded (their payments become
    #: `refunding`), and events their organizer cancelled whole (written last).
    refunds: list[BookingId] = field(default_factory=list)
    events_cancelled: list[EventId] = field(default_factory=list)
    #: Holds whose buyer was warned of the deadline, and holds extended (new deadline).
    warnings: list[BookingId] = field(default_factory=list)
    extensions: list[tuple[BookingId, datetime]] = field(default_factory=list)
    #: Offers of the waiting list this batch ended, by how (`taken`, `expired`, `declined`):
    #: a metric, counted after the commit.
    offers_ended: Counter[str] = field(default_factory=Counter)
    #: The waiting rooms' changes, and their broadcasts (engine/runtime/rooms.py).
    rooms: RoomWrite = field(default_factory=RoomWrite)

    def pin(self, user_id: UserId, key: str, pin: KeyPin) -> None:
        """Record a key pinned to its booking, in the transaction that decides the booking."""
        self.keys.append((user_id, key, pin.booking_id, pin.event_id, pin.quantity))

    def touch(self, ledger: EventLedger, delta: int = 0, held: int = 0) -> None:
        """Fence this event's write with the epoch held, adding `delta` to its sold counter
        and `held` to its held one."""
        _, sold_before, held_before = self.events.get(ledger.event_id, (ledger.epoch, 0, 0))
        self.events[ledger.event_id] = (ledger.epoch, sold_before + delta, held_before + held)

    def confirmed(self, booking_id: BookingId, ledger: EventLedger, user_id: UserId,
                  tickets: tuple[TicketInfo, ...]) -> None:
        """Record a confirmed booking and its tickets."""
        self.bookings.append((booking_id, ledger.event_id, user_id, len(tickets), "confirmed",
                              None, None, None, None))
        self._tickets(booking_id, ledger, user_id, tickets)
        self.touch(ledger, len(tickets))

    def _tickets(self, booking_id: BookingId, ledger: EventLedger, user_id: UserId,
                 tickets: tuple[TicketInfo, ...]) -> None:
        self.tickets.extend((t.id, t.code, booking_id, ledger.event_id, user_id)
                            for t in tickets)

    def rejected(self, booking_id: BookingId, ledger: EventLedger, user_id: UserId,
                 quantity: int, reason: str) -> None:
        """Record a rejected booking (so its outcome stays readable)."""
        self.bookings.append((booking_id, ledger.event_id, user_id, quantity, "rejected",
                              reason, None, None, None))
        self.touch(ledger)

    def cancel(self, booking_id: BookingId, ledger: EventLedger, quantity: int) -> None:
        """Record a cancellation: status, tickets voided, seats back."""
        self.cancelled.append(booking_id)
        self.touch(ledger, -quantity)

    def warned(self, hold: Hold, ledger: EventLedger) -> None:
        """Record a hold's buyer warned of its deadline (the warning email with it)."""
        self.warnings.append(hold.booking_id)
        self.touch(ledger)

    def extended(self, hold: Hold, ledger: EventLedger) -> None:
        """Record a hold given more time: its new deadline."""
        self.extensions.append((hold.booking_id, hold.expires_at))
        self.touch(ledger)

    def event_cancelled(self, ledger: EventLedger, sold: int) -> None:
        """Record an event cancelled whole: every booking of it void, its `sold` seats back
        (its holds were ended one by one before), its waiting list closed."""
        self.events_cancelled.append(ledger.event_id)
        self.touch(ledger, -sold)

    def hold_taken(self, hold: Hold, ledger: EventLedger) -> None:
        """Record a new hold: a `held` booking with its deadline and amount."""
        self.bookings.append((hold.booking_id, ledger.event_id, hold.user_id, hold.quantity,
                              "held", None, hold.expires_at, hold.amount_cents,
                              ledger.currency))
        self.touch(ledger, held=hold.quantity)

    def hold_paid(self, hold: Hold, ledger: EventLedger,
                  tickets: tuple[TicketInfo, ...]) -> None:
        """Record a hold paid: confirmed, its tickets issued, its seats sold."""
        self.paid.append(hold.booking_id)
        if hold.offer:
            self.offers_ended["taken"] += 1
        self._tickets(hold.booking_id, ledger, hold.user_id, tickets)
        self.touch(ledger, hold.quantity, -hold.quantity)

    def checked_in(self, ledger: EventLedger, checkin: CheckinRow) -> None:
        """Record a ticket checked in, fenced by the event's epoch like every write."""
        self.checkins.append(checkin)
        self.touch(ledger)

    def hold_ended(self, hold: Hold, ledger: EventLedger, *, expired: bool) -> None:
        """Record a hold expired, or cancelled by its buyer: its seats back on sale."""
        (self.expired if expired else self.cancelled).append(hold.booking_id)
        if expired:
            self.expired_deadlines.append(hold.expires_at)
        if hold.offer:
            self.offers_ended["expired" if expired else "declined"] += 1
        self.touch(ledger, held=-hold.quantity)


@dataclass(slots=True)
class WaitlistWrite:
    """What one batch did to waiting lists: entries joined, left, and offered (an offer's
    held booking is in `BatchWrite.bookings`, under the entry's id)."""

    joined: list[tuple[BookingId, EventId, UserId, int, int]] = field(default_factory=list)
    left: list[BookingId] = field(default_factory=list)
    offered: list[BookingId] = field(default_factory=list)

    def join(self, entry: Entry, event_id: EventId) -> None:
        """Record a new entry (id, event, user, quantity, seq)."""
        self.joined.append((entry.id, event_id, entry.user_id, entry.quantity, entry.seq))

    def __bool__(self) -> bool:
        return bool(self.joined or self.left or self.offered)


async def _write_waitlist(conn: asyncpg.Connection, write: WaitlistWrite) -> None:
    """Apply a batch's waiting-list changes; `DuplicateWrite` if an entry left or offered
    was not waiting."""
    if write.joined:
        await conn.execute(
            "INSERT INTO waitlist_entries (id, event_id, user_id, quantity, seq, status)"
            " SELECT *, 'waiting' FROM unnest($1::uuid[], $2::bigint[], $3::bigint[],"
            " $4::int[], $5::bigint[])", *zip(*write.joined, strict=True))
    for ids, status in ((write.left, "left"), (write.offered, "offered")):
        await _move(conn, "waitlist_entries", "updated_at", ids, "waiting", status,
                    "waiting-list entries were not waiting")
    if write.offered:
        await conn.execute("UPDATE bookings SET offer = true WHERE id = ANY($1::uuid[])",
                           write.offered)


async def _load_waitlists(conn: asyncpg.Connection, ledgers: dict[EventId, EventLedger]
                          ) -> None:
    """A claim loads the waiting entries of its events, in join order, and the largest seq
    ever given (left and offered entries count: a new entry comes after all of them)."""
    rows = await conn.fetch(
        "SELECT id, event_id, user_id, quantity, seq FROM waitlist_entries"
        " WHERE event_id = ANY($1::bigint[]) AND status = 'waiting' ORDER BY event_id, seq",
        list(ledgers))
    for r in rows:
        ledger = ledgers[r["event_id"]]
        ledger.waitlist.add(Entry(r["id"], r["user_id"], r["quantity"], r["seq"]))
        # Waiting seats count against the per-user limit, as when the entry was decided.
        ledger.held[r["user_id"]] = ledger.held.get(r["user_id"], 0) + r["quantity"]
    last = await conn.fetch(
        "SELECT event_id, max(seq) AS seq FROM waitlist_entries"
        " WHERE event_id = ANY($1::bigint[]) GROUP BY event_id", list(ledgers))
    for r in last:
        ledgers[r["event_id"]].waitlist.last_seq = r["seq"]


class PgShardStore:
    """The shard store over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def dead_lettered(self, commands: Sequence[Command]) -> list[Outcome]:
        """Record commands given up on as rejected; the outcomes to answer."""
        return await record_dead(self._pool, commands)

    async def events_with_holds(self, due_before: datetime | None = None) -> list[EventId]:
        """Events that have open holds, or people in a waiting room (whose timers must run
        too): a restarted worker wakes their owners with them. With `due_before`, only
        events with a timer overdue at that time (the sweep's): a hold past its deadline, or
        a room past its next due moment (an opening, an expiry, an admission of the pace)."""
        async with translate_db_errors():
            rows = await self._pool.fetch(
                "SELECT event_id FROM bookings WHERE status = 'held'"
                " AND ($1::timestamptz IS NULL OR expires_at < $1) UNION"
                " SELECT event_id FROM queue_entries"
                " WHERE $1::timestamptz IS NULL AND status IN ('prequeue', 'waiting', 'admitted')"
                # A room turned off keeps its row but no owner loads it: never due.
                " UNION SELECT q.event_id FROM queue_rooms q JOIN events e ON e.id = q.event_id"
                " WHERE q.due_at < $1 AND e.waiting_room",
                due_before)
        return [r["event_id"] for r in rows]

    async def doors(self, event_ids: set[EventId]) -> dict[EventId, Door]:
        """The tickets of these events as the door sees them (read once per owner)."""
        async with translate_db_errors():
            return await load_doors(self._pool, sorted(event_ids))
    async def rooms(self, ledgers: dict[EventId, EventLedger]) -> dict[EventId, LoadedRoom]:
        """The waiting rooms of these events that have one enabled (read once per owner)."""
        async with translate_db_errors():
            return await load_rooms(self._pool, ledgers)

    async def entry_statuses(self, entry_ids: list[BookingId]) -> dict[BookingId, str]:
        """The stored status of these waiting-list entries (those that exist)."""
        async with translate_db_errors():
            rows = await self._pool.fetch(
                "SELECT id, status FROM waitlist_entries WHERE id = ANY($1::uuid[])",
                entry_ids)
        return {r["id"]: r["status"] for r in rows}

    async def claim(self, event_ids: set[EventId]) -> dict[EventId, EventLedger]:
        """Take ownership of events (epoch + 1) and load their stock and per-user counts.

        One transaction, so the per-user counts match the sold counter read with them: a
        stale owner's commit either lands before our epoch bump (we read it) or is fenced.
        """
        async with translate_db_errors(), self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE events SET owner_epoch = owner_epoch + 1 WHERE id = ANY($1::bigint[])"
                " RETURNING id, capacity, sold, per_user_limit, sale_starts_at, owner_epoch,"
                " price_cents, currency, hold_seconds, held, waitlist, refundable_until,"
                " cancelled_at IS NOT NULL AS cancelled", list(event_ids))
            ledgers = {r["id"]: EventLedger(
                r["id"], r["capacity"], r["sold"], r["per_user_limit"], r["sale_starts_at"],
                r["owner_epoch"], price_cents=r["price_cents"], currency=r["currency"],
                hold_seconds=r["hold_seconds"], on_hold=r["held"],
                waitlist_open=r["waitlist"], refundable_until=r["refundable_until"],
                cancelled=r["cancelled"]) for r in rows}
            if ledgers:
                held = await conn.fetch(
                    "SELECT event_id, user_id, sum(quantity)::int AS n FROM bookings"
                    " WHERE event_id = ANY($1::bigint[]) AND status IN ('confirmed', 'held')"
                    " GROUP BY event_id, user_id", list(ledgers))
                for h in held:
                    ledgers[h["event_id"]].held[h["user_id"]] = h["n"]
                # Open holds and their deadlines: the new owner arms its timers with them.
                holds = await conn.fetch(
                    "SELECT id, event_id, user_id, quantity, expires_at, amount_cents, offer,"
                    " warned_at IS NOT NULL AS warned, extended_at IS NOT NULL AS extended"
                    " FROM bookings WHERE event_id = ANY($1::bigint[]) AND status = 'held'",
                    list(ledgers))
                for h in holds:
                    ledger = ledgers[h["event_id"]]
                    ledger.holds[h["id"]] = Hold(
                        h["id"], h["user_id"], h["quantity"], h["expires_at"],
                        h["amount_cents"], h["offer"], h["warned"], h["extended"],
                        warn_lead(ledger.hold_seconds))
                await _load_waitlists(conn, ledgers)
                # The keys pinned to this event's bookings: a replay is answered from memory.
                keys = await conn.fetch(
                    "SELECT user_id, key, booking_id, event_id, quantity FROM idempotency_keys"
                    " WHERE event_id = ANY($1::bigint[])", list(ledgers))
                for k in keys:
                    ledgers[k["event_id"]].keys[(k["user_id"], k["key"])] = KeyPin(
                        k["booking_id"], k["event_id"], k["quantity"])
        return ledgers

    async def existing(self, booking_ids: list[BookingId]) -> dict[BookingId, Outcome]:
        """Outcomes already recorded for these booking ids (redeliveries, retries, cancels)."""
        async with translate_db_errors():
            return await bookings.outcomes(self._pool, booking_ids)

    async def commit(self, batch: BatchWrite) -> None:
        """Write the batch in ONE transaction; `StaleOwner` if any event's epoch moved on."""
        ids = list(batch.events)
        epochs = [batch.events[i][0] for i in ids]
        deltas = [batch.events[i][1] for i in ids]
        held = [batch.events[i][2] for i in ids]
        try:
            await self._write(batch, ids, epochs, deltas, held)
        except asyncpg.exceptions.UniqueViolationError as exc:
            raise DuplicateWrite(str(exc)) from exc
        except (asyncpg.exceptions.IntegrityConstraintViolationError,  # SQLSTATE class 23
                asyncpg.exceptions.DataError) as exc:                  # class 22
            raise PoisonBatch(str(exc)) from exc

    async def _write(self, batch: BatchWrite, ids: list[EventId], epochs: list[int],
                     deltas: list[int], held: list[int]) -> None:
        if _plain(batch):
            async with translate_db_errors(), self._pool.acquire() as conn:
                try:
                    # Autocommitted: one round trip for the whole batch.
                    await _fence_and_insert(conn, batch, ids, epochs, deltas, held,
                                            abort=True)
                    return
                except asyncpg.PostgresError as exc:
                    if exc.sqlstate != _BATCH_ABORTED:
                        raise
            # Fenced out or a key collided (rare): nothing landed; the transaction below
            # finds out which and says so.
        async with translate_db_errors(), self._pool.acquire() as conn, conn.transaction():
            fenced, pinned = await _fence_and_insert(conn, batch, ids, epochs, deltas, held)
            if len(fenced) != len(ids):
                # Raising rolls the whole batch back: nothing of a stale owner lands (its
                # rows were not even inserted: the statement wrote them only when fenced).
                raise StaleOwner(set(ids) - set(fenced))
            if len(pinned) != len(batch.keys):
                await _key_conflicts(conn, batch.keys, pinned)
            # A hold paid, expired or cancelled is `held` in the database, or the batch was
            # decided on a state that is not the stored one: recheck everything.
            if batch.waitlist:
                await _write_waitlist(conn, batch.waitlist)
            if batch.rooms:
                await write_rooms(conn, batch.rooms)
            await _hold_times(conn, batch.warnings, batch.extensions)
            await _end_holds(conn, batch.paid, "confirmed")
            await _end_holds(conn, batch.expired, "expired")
            await write_checkins(conn, batch.checkins)
            if batch.refunds:  # before the bookings move: only confirmed ones are refunded
                await owe_refunds(conn, "p.booking_id = ANY($1::uuid[])", batch.refunds,
                                   "buyer_cancelled")
            if batch.cancelled:
                await conn.execute("UPDATE tickets SET voided_at = now()"
                                   " WHERE booking_id = ANY($1::uuid[]) AND voided_at IS NULL",
                                   batch.cancelled)
                await conn.execute(
                    "UPDATE bookings SET status = 'cancelled', decided_at = now()"
                    " WHERE id = ANY($1::uuid[]) AND status IN ('confirmed', 'held')",
                    batch.cancelled)
            if batch.events_cancelled:
                await cancel_events(conn, batch.events_cancelled)


async def _hold_times(conn: asyncpg.Connection, warnings: list[BookingId],
                     extensions: list[tuple[BookingId, datetime]]) -> None:
    """Record warnings (each with its email in the notifications outbox, once per hold) and
    extensions (the new deadline, warned again before it); before the batch's holds end."""
    if extensions:
        ids, deadlines = zip(*extensions, strict=True)
        moved = await conn.fetchval(
            "WITH moved AS (UPDATE bookings b SET expires_at = d.at, extended_at = now(),"
            " warned_at = NULL FROM unnest($1::uuid[], $2::timestamptz[]) AS d(id, at)"
            " WHERE b.id = d.id AND b.status = 'held' AND b.extended_at IS NULL RETURNING 1)"
            " SELECT count(*) FROM moved", list(ids), list(deadlines))
        if moved != len(extensions):
            raise DuplicateWrite(f"{len(extensions) - moved} holds were not extendable")
    if warnings:
        await conn.execute("UPDATE bookings SET warned_at = now()"
                           " WHERE id = ANY($1::uuid[]) AND status = 'held'", warnings)
        await conn.execute("SELECT record_hold_warnings($1::uuid[])", warnings)


async def _end_holds(conn: asyncpg.Connection, booking_ids: list[BookingId],
                     status: str) -> None:
    """Move held bookings to `status`; `DuplicateWrite` unless every one was held."""
    await _move(conn, "bookings", "decided_at", booking_ids, "held", status,
                "holds were no longer held")


async def _move(conn: asyncpg.Connection, table: str, stamp: str, ids: list[BookingId],
                was: str, status: str, what: str) -> None:
    """Move rows of `table` from `was` to `status`; `DuplicateWrite` unless every one was
    `was` (the batch was decided on a state that is not the stored one)."""
    if not ids:
        return
    done = await conn.fetchval(
        f"WITH moved AS (UPDATE {table} SET status = $2, {stamp} = now()"
        " WHERE id = ANY($1::uuid[]) AND status = $3 RETURNING 1)"
        " SELECT count(*) FROM moved", ids, status, was)
    if done != len(ids):
        raise DuplicateWrite(f"{len(ids) - done} {what}")


#: The rows every booking batch writes, each as (table and columns, their array types):
#: inserted by one statement with the fence (`_fence_and_insert`).
_BATCH_ROWS = {
    "keys": ("idempotency_keys (user_id, key, booking_id, event_id, quantity)",
             ("bigint", "text", "uuid", "bigint", "int"), " ON CONFLICT DO NOTHING"
             " RETURNING user_id, key"),
    "bookings": ("bookings (id, event_id, user_id, quantity, status, reason, expires_at,"
                 " amount_cents, currency)", ("uuid", "bigint", "bigint", "int", "text",
                                              "text", "timestamptz", "bigint", "text"), ""),
    "tickets": ("tickets (id, code, booking_id, event_id, user_id)",
                ("uuid", "text", "uuid", "bigint", "bigint"), ""),
}


#: The SQLSTATE of `shard_batch_abort` (migration 0022).
_BATCH_ABORTED = "TW001"

#: What a batch may hold and still be written by one autocommitted statement: the events'
#: counters and the rows `_fence_and_insert` writes, plus what is only counted afterwards.
_PLAIN_FIELDS = {"events", "bookings", "tickets", "keys", "offers_ended",
                 "expired_deadlines"}


def _plain(batch: BatchWrite) -> bool:
    """True when the batch writes nothing but counters, key pins, bookings and tickets (a
    sale's batches): any other change of a new field keeps it on the transactional path."""
    return not any(getattr(batch, f.name) for f in fields(batch)
                   if f.name not in _PLAIN_FIELDS)


async def _fence_and_insert(conn: asyncpg.Connection, batch: BatchWrite, ids: list[EventId],
                            epochs: list[int], deltas: list[int], held: list[int],
                            abort: bool = False
                            ) -> tuple[list[EventId], list[tuple[UserId, str]]]:
    """Move the events' counters where the epoch still matches, and insert the batch's key
    pins, bookings and tickets — in ONE statement: the events fenced, and the keys pinned.

    On a busy machine every round trip waits for a core, and the actor's next batch waits
    for this one. The rows are inserted only if every event was fenced, so a stale owner's
    rows meet no unique index (a `DuplicateWrite` would hide that it was fenced). Key pins
    that collided are left out (`ON CONFLICT DO NOTHING`) for `_key_conflicts` to look at;
    the foreign keys and the bookings' statement trigger run at the end of the statement,
    after every row is in.

    With `abort` (run outside a transaction: a plain batch in one round trip) the statement
    instead aborts itself through `shard_batch_abort` when an event was not fenced or a pin
    collided, so that nothing of it lands, and the caller writes the batch in a transaction.
    """
    args: list[object] = [ids, epochs, deltas, held]
    keys_array = ""
    parts = ["WITH fenced AS (UPDATE events e SET sold = e.sold + d.delta,"
             " held = e.held + d.held, updated_at = now()"
             " FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[])"
             " AS d(id, epoch, delta, held)"
             " WHERE e.id = d.id AND e.owner_epoch = d.epoch RETURNING e.id),"
             " whole AS (SELECT count(*) = cardinality($1::bigint[]) AS ok FROM fenced)"]
    for name, rows in (("keys", batch.keys), ("bookings", batch.bookings),
                       ("tickets", batch.tickets)):
        if not rows:
            continue
        into, types, tail = _BATCH_ROWS[name]
        first = len(args) + 1
        if name == "keys":
            keys_array = f"${first}::bigint[]"
        arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types))
        args += [list(column) for column in zip(*rows, strict=True)]
        parts.append(f", new_{name} AS (INSERT INTO {into} SELECT * FROM unnest({arrays})"
                     f" WHERE (SELECT ok FROM whole){tail})")
    pinned = ("(SELECT coalesce(array_agg(ARRAY[user_id::text, key]), '{}') FROM new_keys)"
              if batch.keys else "'{}'::text[]")
    parts.append(f" SELECT (SELECT coalesce(array_agg(id), '{{}}') FROM fenced) AS fenced,"
                 f" {pinned} AS pinned")
    if abort:
        # The count as a parameter, not a literal: one statement text per shape of batch,
        # so asyncpg's statement cache is not filled with one per number of keys.
        landed = (f" AND (SELECT count(*) FROM new_keys) = cardinality({keys_array})"
                  if batch.keys else "")
        # CASE, not OR: the abort must be evaluated only when the test fails.
        parts.append(f" WHERE CASE WHEN (SELECT ok FROM whole){landed} THEN true"
                     " ELSE shard_batch_abort('fenced out or a key pin collided') END")
    row = await conn.fetchrow("".join(parts), *args)
    return list(row["fenced"]), [(UserId(int(u)), k) for u, k in row["pinned"]]


async def _key_conflicts(conn: asyncpg.Connection,
                         keys: list[tuple[UserId, str, BookingId, EventId, int]],
                         pinned: list[tuple[UserId, str]]) -> None:
    """`KeyConflict` if any key the batch could not pin is pinned to another booking.

    The unique index is the last line of defence: the actor only knows the keys of its own
    events, so a key first used for an event of another shard, or pinned by a gateway that
    answered 202, is found here. A row that already pins a key to the same booking (the
    gateway's 202 pin of this very command) is no conflict.
    """
    done = set(pinned)
    wanted = {(k[0], k[1]): k[2] for k in keys if (k[0], k[1]) not in done}
    users, texts = zip(*wanted, strict=True)
    rows = await conn.fetch(
        "SELECT user_id, key, booking_id, event_id, quantity FROM idempotency_keys"
        " WHERE (user_id, key) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))",
        list(users), list(texts))
    conflicts = {(r["user_id"], r["key"]): (r["booking_id"], r["event_id"], r["quantity"])
                 for r in rows if r["booking_id"] != wanted[(r["user_id"], r["key"])]}
    if conflicts:
        raise KeyConflict(conflicts)
