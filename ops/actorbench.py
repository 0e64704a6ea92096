"""`python -m ops.actorbench` (`make actorbench`): one shard actor on PostgreSQL, alone.

No HTTP, no broker: a `ShardActor` with the real `PgShardStore` is handed N booking
commands at once and decides them in batches of at most B (its `max_batch`); bookings per
second is N over the time from its start to its drain. Next to it, in the same run and on
the same database, the raw limit for the same rows per booking — a booking row, its ticket
rows and an idempotency-key row, inserted with `unnest` in one transaction per batch of B —
so the actor's overhead (deciding, fencing, the event counter, outcomes) reads as a ratio.

`--without-outbox` disables the notification triggers on bookings (migration 0011) for the
run and restores them after, so the cost of the outbox rows in the actor's batch reads as
the difference between two runs.

Until the actor records idempotency keys itself (`BookCommand.idempotency_key`), its
commands carry no key and it writes one row fewer per booking than the raw limit; the
report says which.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from engine.messages import BookCommand, Command, Outcome, StockUpdate
from engine.runtime.actor import ShardActor
from engine.settings import Secret, Settings
from engine.storage import create_pool
from engine.storage.database import ensure_database
from engine.storage.outbox import BOOKING_TRIGGERS
from engine.storage.shard_store import PgShardStore
from engine.tickets import new_tickets
from engine.transport.base import Envelope
from ops import microbench

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/ticketwar_bench"
DEFAULT_SIZES = (1, 8, 64, 256, 1024)
#: Whether this engine's BookCommand carries an idempotency key (the actor then writes it).
ACTOR_WRITES_KEYS = "idempotency_key" in {f.name for f in dataclasses.fields(BookCommand)}


class NullOutlet:
    """An outlet that drops what a committed batch sends: no broker in this measurement."""

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        """Nothing to acknowledge in-process."""

    async def send_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Nobody waits for the outcomes."""

    async def send_stock(self, updates: Sequence[StockUpdate]) -> None:
        """No gateway listens."""

    async def forward(self, commands: Sequence[Command]) -> None:
        """Never fenced: no other actor claims these events."""
        raise RuntimeError(f"{len(commands)} commands fenced out in a lone-actor bench")

    async def dead_letter(self, envelope: Envelope) -> None:
        """A dead letter means the bench is broken."""
        raise RuntimeError("a command was dead-lettered in the actor bench")


def book_command(event_id: int, user_id: int, quantity: int, key: str) -> BookCommand:
    """A booking command, with its idempotency key when the engine's command has the field."""
    extra: dict[str, Any] = {"idempotency_key": key} if ACTOR_WRITES_KEYS else {}
    return BookCommand(uuid.uuid4(), event_id, user_id, quantity, "actorbench", **extra)


async def fixtures(pool: asyncpg.Pool, users: int, capacity: int) -> tuple[int, list[int]]:
    """A fresh event with `capacity` seats and no per-user limit, and `users` buyers."""
    tag = uuid.uuid4().hex[:10]
    async with pool.acquire() as conn:
        ids = [r["id"] for r in await conn.fetch(
            "INSERT INTO users (email, password_hash, role) SELECT 'actorbench-' || $1 || '-'"
            " || g || '@bench.example', 'x', 'USER' FROM generate_series(0, $2) g"
            " RETURNING id", tag, users)]
        event = await conn.fetchval(
            "INSERT INTO events (vendor_id, name, capacity) VALUES ($1, $2, $3) RETURNING id",
            ids[0], f"actorbench {tag}", capacity)
    return int(event), ids[1:]


async def actor_rate(pool: asyncpg.Pool, batch: int, bookings: int, quantity: int) -> float:
    """Bookings per second of one actor deciding `bookings` commands at most `batch` at
    a time (all queued before it starts, so every batch is full)."""
    event, users = await fixtures(pool, min(bookings, 5000), bookings * quantity)
    actor = ShardActor(0, PgShardStore(pool), NullOutlet(), max_batch=batch)
    for i in range(bookings):
        actor.submit(Envelope([book_command(event, users[i % len(users)], quantity,
                                            f"ab-{event}-{i}")]))
    started = time.perf_counter()
    async with actor:
        await actor.drain()
    elapsed = time.perf_counter() - started
    confirmed = await pool.fetchval(
        "SELECT count(*) FROM bookings WHERE event_id = $1 AND status = 'confirmed'", event)
    if confirmed != bookings:
        raise RuntimeError(f"the actor confirmed {confirmed} of {bookings} bookings")
    return bookings / elapsed


#: One transaction's rows for `insert_batch`: bookings, their tickets, their keys.
RawBatch = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def raw_batches(event: int, users: Sequence[int], bookings: int, batch: int,
                quantity: int) -> list[RawBatch]:
    """`bookings` confirmed bookings of `event` with their tickets and idempotency keys, in
    transactions of `batch` bookings, made before any clock starts."""
    batches = []
    for start in range(0, bookings, batch):
        rows, tickets, keys = [], [], []
        for i in range(start, min(start + batch, bookings)):
            booking, user = uuid.uuid4(), users[i % len(users)]
            rows.append((booking, event, user, quantity, "confirmed", None))
            tickets += [(t.id, t.code, booking, event, user) for t in new_tickets(quantity)]
            keys.append((user, f"raw-{event}-{i}", booking, event, quantity))
        batches.append((rows, tickets, keys))
    return batches


async def insert_batch(conn: asyncpg.Connection, batch: RawBatch) -> None:
    """One batch's rows in one transaction, a statement per table (`unnest`)."""
    rows, tickets, keys = batch
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO bookings (id, event_id, user_id, quantity, status, reason)"
            " SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::int[],"
            " $5::text[], $6::text[])", *zip(*rows, strict=True))
        await conn.execute(
            "INSERT INTO tickets (id, code, booking_id, event_id, user_id)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[],"
            " $5::bigint[])", *zip(*tickets, strict=True))
        await conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, booking_id, event_id, quantity)"
            " SELECT * FROM unnest($1::bigint[], $2::text[], $3::uuid[], $4::bigint[],"
            " $5::int[])", *zip(*keys, strict=True))


async def raw_rate(pool: asyncpg.Pool, batch: int, bookings: int, quantity: int) -> float:
    """Bookings per second of plain batched inserts of the same rows: `batch` bookings with
    their tickets and idempotency keys per transaction, rows made before the clock starts."""
    event, users = await fixtures(pool, min(bookings, 5000), bookings * quantity)
    batches = raw_batches(event, users, bookings, batch, quantity)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for one in batches:
            await insert_batch(conn, one)
    return bookings / (time.perf_counter() - started)


async def measure(pool: asyncpg.Pool, sizes: Sequence[int], bookings: int,
                  quantity: int = 1) -> list[dict[str, Any]]:
    """Actor and raw rates per batch size. Small batches run fewer bookings (100 batches
    at least), so one transaction per booking does not take minutes."""
    rows = []
    for size in sizes:
        n = min(bookings, max(100 * size, 200))
        actor, raw = await actor_rate(pool, size, n, quantity), await raw_rate(
            pool, size, n, quantity)
        rows.append({"batch": size, "bookings": n, "actor_bookings_per_s": round(actor, 1),
                     "raw_bookings_per_s": round(raw, 1), "ratio": round(actor / raw, 3)})
    return rows


def render(rows: Sequence[dict[str, Any]], quantity: int) -> str:
    """The table printed at the end."""
    lines = [f"one shard actor vs raw batched inserts (bookings/s; {quantity} ticket(s) per"
             f" booking; actor writes idempotency keys: {'yes' if ACTOR_WRITES_KEYS else 'no'})",
             f"{'batch':>6} {'bookings':>9} {'actor':>10} {'raw':>10} {'actor/raw':>10}"]
    for r in rows:
        lines.append(f"{r['batch']:>6} {r['bookings']:>9,} {r['actor_bookings_per_s']:>10,.0f}"
                     f" {r['raw_bookings_per_s']:>10,.0f} {r['ratio']:>10.2f}")
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def outbox_triggers(pool: asyncpg.Pool, enabled: bool) -> AsyncIterator[None]:
    """The notification triggers on bookings as asked for the block, enabled after it."""
    if enabled:
        yield
        return
    for name in BOOKING_TRIGGERS:
        await pool.execute(f"ALTER TABLE bookings DISABLE TRIGGER {name}")
    try:
        yield
    finally:
        for name in BOOKING_TRIGGERS:
            await pool.execute(f"ALTER TABLE bookings ENABLE TRIGGER {name}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole micro-bench; returns the JSON report."""
    db = os.environ.get("DATABASE_URL", DEFAULT_DB)
    await ensure_database(db)
    pool = await create_pool(Settings(database_url=Secret(db), data_dir=Path(".bench")))
    try:
        async with outbox_triggers(pool, enabled=not args.without_outbox):
            rows = await measure(pool, args.sizes, args.bookings, args.quantity)
    finally:
        await pool.close()
    print(render(rows, args.quantity))
    print(f"notification outbox triggers: {'off' if args.without_outbox else 'on'}")
    return {"actor_writes_keys": ACTOR_WRITES_KEYS, "quantity": args.quantity,
            "outbox_triggers": not args.without_outbox, "rows": rows}


def arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options."""
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        help="batch sizes (default 1 8 64 256 1024)")
    parser.add_argument("--bookings", type=int, default=20_000,
                        help="bookings per measurement at the larger sizes (default 20000)")
    parser.add_argument("--quantity", type=int, default=1, help="tickets per booking")
    parser.add_argument("--without-outbox", action="store_true",
                        help="disable the notification triggers on bookings for the run")


def main() -> None:
    """Entry point of `python -m ops.actorbench`."""
    microbench.main("python -m ops.actorbench", __doc__, arguments, run, "actorbench")


if __name__ == "__main__":
    main()
