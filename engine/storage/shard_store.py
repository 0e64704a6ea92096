"""What a shard actor needs from PostgreSQL: claim events, look up prior outcomes, and write a
whole batch in one transaction fenced by the owner epoch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from engine.domain import EventLedger, KeyPin
from engine.errors import DuplicateWrite, KeyConflict, PoisonBatch, StaleOwner
from engine.messages import Command, Outcome, TicketInfo
from engine.storage import bookings
from engine.storage.database import translate_db_errors
from engine.storage.deadletters import record_dead
from engine.types import BookingId, EventId, UserId


@dataclass(slots=True)
class BatchWrite:
    """Everything one batch decided, written in one transaction."""

    #: event id -> (owner epoch held, change of the sold counter)
    events: dict[EventId, tuple[int, int]] = field(default_factory=dict)
    bookings: list[tuple[BookingId, EventId, UserId, int, str, str | None]] = field(
        default_factory=list)
    tickets: list[tuple[object, str, BookingId, EventId, UserId]] = field(default_factory=list)
    cancelled: list[BookingId] = field(default_factory=list)
    #: Idempotency keys pinned by this batch: (user, key, booking id, event id, quantity).
    keys: list[tuple[UserId, str, BookingId, EventId, int]] = field(default_factory=list)

    def pin(self, user_id: UserId, key: str, pin: KeyPin) -> None:
        """Record a key pinned to its booking, in the transaction that decides the booking."""
        self.keys.append((user_id, key, pin.booking_id, pin.event_id, pin.quantity))

    def touch(self, ledger: EventLedger, delta: int = 0) -> None:
        """Fence this event's write with the epoch held, adding `delta` to its sold counter."""
        _, before = self.events.get(ledger.event_id, (ledger.epoch, 0))
        self.events[ledger.event_id] = (ledger.epoch, before + delta)

    def confirmed(self, booking_id: BookingId, ledger: EventLedger, user_id: UserId,
                  tickets: tuple[TicketInfo, ...]) -> None:
        """Record a confirmed booking and its tickets."""
        self.bookings.append((booking_id, ledger.event_id, user_id, len(tickets), "confirmed",
                              None))
        self.tickets.extend((t.id, t.code, booking_id, ledger.event_id, user_id)
                            for t in tickets)
        self.touch(ledger, len(tickets))

    def rejected(self, booking_id: BookingId, ledger: EventLedger, user_id: UserId,
                 quantity: int, reason: str) -> None:
        """Record a rejected booking (so its outcome stays readable)."""
        self.bookings.append((booking_id, ledger.event_id, user_id, quantity, "rejected",
                              reason))
        self.touch(ledger)

    def cancel(self, booking_id: BookingId, ledger: EventLedger, quantity: int) -> None:
        """Record a cancellation: status, tickets voided, seats back."""
        self.cancelled.append(booking_id)
        self.touch(ledger, -quantity)


class PgShardStore:
    """The shard store over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def dead_lettered(self, commands: Sequence[Command]) -> list[Outcome]:
        """Record commands given up on as rejected; the outcomes to answer."""
        return await record_dead(self._pool, commands)

    async def claim(self, event_ids: set[EventId]) -> dict[EventId, EventLedger]:
        """Take ownership of events (epoch + 1) and load their stock and per-user counts.

        One transaction, so the per-user counts match the sold counter read with them: a
        stale owner's commit either lands before our epoch bump (we read it) or is fenced.
        """
        async with translate_db_errors(), self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE events SET owner_epoch = owner_epoch + 1 WHERE id = ANY($1::bigint[])"
                " RETURNING id, capacity, sold, per_user_limit, sale_starts_at, owner_epoch",
                list(event_ids))
            ledgers = {r["id"]: EventLedger(r["id"], r["capacity"], r["sold"],
                                            r["per_user_limit"], r["sale_starts_at"],
                                            r["owner_epoch"]) for r in rows}
            if ledgers:
                held = await conn.fetch(
                    "SELECT event_id, user_id, sum(quantity)::int AS n FROM bookings"
                    " WHERE event_id = ANY($1::bigint[]) AND status = 'confirmed'"
                    " GROUP BY event_id, user_id", list(ledgers))
                for h in held:
                    ledgers[h["event_id"]].held[h["user_id"]] = h["n"]
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
        try:
            await self._write(batch, ids, epochs, deltas)
        except asyncpg.exceptions.UniqueViolationError as exc:
            raise DuplicateWrite(str(exc)) from exc
        except (asyncpg.exceptions.IntegrityConstraintViolationError,  # SQLSTATE class 23
                asyncpg.exceptions.DataError) as exc:                  # class 22
            raise PoisonBatch(str(exc)) from exc

    async def _write(self, batch: BatchWrite, ids: list[EventId], epochs: list[int],
                     deltas: list[int]) -> None:
        async with translate_db_errors(), self._pool.acquire() as conn, conn.transaction():
            fenced = await conn.fetch(
                "UPDATE events e SET sold = e.sold + d.delta, updated_at = now()"
                " FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS d(id, epoch, delta)"
                " WHERE e.id = d.id AND e.owner_epoch = d.epoch RETURNING e.id",
                ids, epochs, deltas)
            if len(fenced) != len(ids):
                # Raising rolls the whole batch back: nothing of a stale owner lands.
                raise StaleOwner(set(ids) - {r["id"] for r in fenced})
            if batch.keys:
                await _pin_keys(conn, batch.keys)
            if batch.bookings:
                await conn.execute(
                    "INSERT INTO bookings (id, event_id, user_id, quantity, status, reason)"
                    " SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::int[],"
                    " $5::text[], $6::text[])", *zip(*batch.bookings, strict=True))
            if batch.tickets:
                await conn.execute(
                    "INSERT INTO tickets (id, code, booking_id, event_id, user_id)"
                    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[],"
                    " $5::bigint[])", *zip(*batch.tickets, strict=True))
            if batch.cancelled:
                await conn.execute("UPDATE tickets SET voided_at = now()"
                                   " WHERE booking_id = ANY($1::uuid[]) AND voided_at IS NULL",
                                   batch.cancelled)
                await conn.execute(
                    "UPDATE bookings SET status = 'cancelled', decided_at = now()"
                    " WHERE id = ANY($1::uuid[]) AND status = 'confirmed'", batch.cancelled)


async def _pin_keys(conn: asyncpg.Connection,
                    keys: list[tuple[UserId, str, BookingId, EventId, int]]) -> None:
    """Insert the batch's key pins; `KeyConflict` if any key is pinned to another booking.

    The unique index is the last line of defence: the actor only knows the keys of its own
    events, so a key first used for an event of another shard, or pinned by a gateway that
    answered 202, is found here. A row that already pins a key to the same booking (the
    gateway's 202 pin of this very command) is no conflict.
    """
    inserted = await conn.fetch(
        "INSERT INTO idempotency_keys (user_id, key, booking_id, event_id, quantity)"
        " SELECT * FROM unnest($1::bigint[], $2::text[], $3::uuid[], $4::bigint[], $5::int[])"
        " ON CONFLICT DO NOTHING RETURNING user_id, key", *zip(*keys, strict=True))
    if len(inserted) == len(keys):
        return
    done = {(r["user_id"], r["key"]) for r in inserted}
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
