"""What each unit of work costs on this machine, measured through the bench's own rows.

For each shape (`hot-event` and `many-events`, both `queued` over RabbitMQ) one bench row
runs on a fresh local stack (`ops.bench.measure`), and around it:

- the rows the sale wrote, from PostgreSQL's per-table counters (`pg_stat_user_tables`,
  inserts + updates + deletes; `users` left out, they are the set-up's buyers), read
  once they stop moving after the row's stack has stopped (`settled_writes`);
- every component's CPU at rest for a few seconds before the row, on an idle stack of the
  same shape, once the receipts earlier rows left unsent are marked sent (`clear_outbox`:
  else the new stack's sender works them off while it should be idle)
  (`rest_rates`): that rate times the load phase is taken off the row's CPU (but the
  sale's own database's: see `shape_of`), so neither the stack's own timers nor
  other people's use of the shared services are charged to its requests
  (`components_ms_per_request_raw` keeps the figures before).

The PostgreSQL CPU per row is that of the backends of the bench's database alone
(`postgresql_db`, ops/surge/cpu.py), which other users' work does not reach. Beside the
rows, the single primary's write path, on a connection of its own: the WAL one batch of
bookings writes (the least of a few tries, as other databases on the server write WAL at
the same time), the raw batched-insert rate (`ops.actorbench`), and `pg_test_fsync`'s
fsyncs per second on this disk.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from engine.auth import TokenIssuer
from engine.storage import create_pool
from ops import actorbench, bench
from ops.capacity.model import Shape
from ops.surge import scenario as scenarios
from ops.surge.cpu import OWN_DATABASE, ServerMeter, cpu_seconds
from ops.surge.stack import local_gateway

#: The bench's rows this measures, by shape.
ROWS = {"hot-event": "queued", "many-events": "many-events/queued"}
#: Rows this backend inserted, this transaction included (see `wal_per_booking`).
_INSERTED = "SELECT coalesce(sum(n_tup_ins), 0)::int FROM pg_stat_xact_user_tables"
#: Tables the set-up writes (buyers' accounts), not the sale.
SETUP_TABLES = frozenset({"users"})


async def table_writes(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows inserted, updated and deleted so far, per table of the database."""
    rows = await conn.fetch(
        "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS n FROM pg_stat_user_tables")
    return {r["relname"]: int(r["n"]) for r in rows}


def written(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Rows written per table between two readings, set-up tables left out."""
    return {t: n - before.get(t, 0) for t, n in sorted(after.items())
            if t not in SETUP_TABLES and n > before.get(t, 0)}


async def settled_writes(conn: asyncpg.Connection, seconds: float = 30) -> dict[str, int]:
    """`table_writes` once they stop moving: a backend's counters reach the shared
    statistics when it exits (or, idle, within 10 s), so the stopped stack's last ones come
    in just after it. Two equal readings a second apart, within `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    last = await table_writes(conn)
    while True:
        await asyncio.sleep(1.0)  # the statistics' own flush interval: nothing to wait on
        now = await table_writes(conn)
        if now == last or asyncio.get_running_loop().time() > deadline:
            return now
        last = now


def shard_batches(folder: Path) -> int:
    """Shard transactions the row's workers committed (`ticketwar_shard_batch_size`'s
    count), from the expositions the bench keeps after each row."""
    total = 0.0
    for page in folder.glob("*.prom"):
        for family in text_string_to_metric_families(page.read_text()):
            if family.name == "ticketwar_shard_batch_size":
                total += sum(x.value for x in family.samples if x.name.endswith("_count"))
    return int(total)


async def clear_outbox(dsn: str) -> int:
    """Mark every notification still waiting as sent; how many there were.

    A new stack's sender first works off the receipts earlier rows (and the write-path
    probe) left unsent, which would pass for the idle stack's own cost and then be taken off
    the next row. On a connection of its own, closed after, so its updates reach the table
    counters before the row's first reading, not inside it."""
    conn = await asyncpg.connect(dsn)
    try:
        status = await conn.execute(
            "UPDATE notifications SET sent_at = now()"
            " WHERE sent_at IS NULL AND failed_at IS NULL")
    finally:
        await conn.close()
    return int(status.split()[-1])


async def rest_rates(base_env: dict[str, str], database: str, seconds: float,
                     gateways: int) -> dict[str, float]:
    """CPU seconds per second of each component (`OWN_DATABASE` included) while a fresh
    stack, started as a bench row starts it, takes no requests: its own background work
    (timers, heartbeats, refreshes) and, on a shared machine, other people's use of the
    services. A row's figures have this rate times its load phase taken off, so a slow row
    does not charge its requests with the time it lasted. `gateways`: its gateway
    processes, each serving metrics as in a row."""
    pids: list[int] = []
    first = bench._metrics_ports(gateways + bench.WORKERS)  # as a row serves them
    env = {**base_env, "GATEWAY_METRICS_PORT": str(first),
           "SHARD_METRICS_PORT": str(first + gateways)}
    async with local_gateway("queued", env, pids=pids):
        meter = ServerMeter(pids, database=database)
        await asyncio.sleep(1.0)  # past the start-up's own work
        meter.start()
        await asyncio.sleep(seconds)  # the measurement itself: CPU spent while idle
        meter.stop()
    return {name: spent / seconds for name, spent in meter.components.items()}


def shape_of(name: str, row: dict[str, Any], rows: int, rest: dict[str, float],
             wal_bytes_per_row: float, workers: int) -> tuple[Shape, dict[str, Any]]:
    """The shape measured by one bench row (its JSON), with the figures it came from:
    `rest` is `rest_rates`, `workers` the row's shard-worker processes."""
    requests, duration = row["requests"], row["duration_s"]
    raw = row["cpu"]["components_ms_per_request"]
    # ms per request, less what the stack and the services spend per ms doing nothing —
    # but the sale's own database: only the stack uses it, and what it does there at rest
    # is autovacuum cleaning up after earlier writes, a real cost of rows.
    ms = {c: v if c == OWN_DATABASE else
          max(0.0, v - rest.get(c, 0.0) * duration / requests * 1000)
          for c, v in raw.items()}
    broker = row["broker_per_request"] or {"messages": {}, "commands": {}}
    commands = broker["commands"].get("delivered", 0.0)
    messages = sum(n for by_kind in broker["messages"].values()
                   for kind, n in by_kind.items() if kind != "stock")
    stock = sum(by_kind.get("stock", 0.0) for by_kind in broker["messages"].values())
    stock_published = broker["messages"].get("published", {}).get("stock", 0.0)
    per_row = rows / requests
    shape = Shape(
        name=name, gateway_ms_per_request=ms["gateway"], commands_per_request=commands,
        worker_ms_per_command=ms["workers"] / commands if commands else 0.0,
        rows_per_request=per_row,
        postgresql_ms_per_row=ms["postgresql_db"] / per_row if per_row else 0.0,
        messages_per_request=messages,
        quorum_messages_per_request=sum(by_kind.get("commands", 0.0)
                                        for by_kind in broker["messages"].values()),
        broker_ms_per_message=ms["rabbitmq"] / (messages + stock) if messages else 0.0,
        wal_bytes_per_row=wal_bytes_per_row,
        stock_per_worker_s=stock_published * requests / duration / workers)
    figures = {"requests": requests, "throughput_rps": row["throughput_rps"],
               "duration_s": duration, "statuses": row["statuses"], "rows_written": rows,
               "components_ms_per_request_raw": raw,
               "components_ms_per_request": {c: round(v, 4) for c, v in ms.items()},
               "rest_cpu_per_s": {c: round(v, 4) for c, v in rest.items()},
               "postgresql_all_ms_per_row": round(ms["postgresql"] / per_row, 4)
               if per_row else None,
               "broker_per_request": broker, "invariants_ok": row["invariants_ok"]}
    return shape, figures


async def wal_per_booking(pool: asyncpg.Pool, batch: int = 1024, tries: int = 5
                          ) -> dict[str, float]:
    """One batched transaction of `batch` bookings, `tries` times: the WAL bytes and rows
    per booking (the least WAL of the tries: other databases write WAL at the same time,
    never less) and the backend's CPU ms per row over all of them (the cheapest a row can
    be written: no deciding, no fencing, the largest batches)."""
    event, users = await actorbench.fixtures(pool, min(batch, 5000), batch * tries)
    least, rows, cpu = float("inf"), 0, 0.0
    async with pool.acquire() as conn:
        backend = conn.get_server_pid()
        for one in actorbench.raw_batches(event, users, batch * tries, batch, 1):
            start = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
            spent = cpu_seconds(backend)
            async with conn.transaction():
                # The view also holds this backend's counts not yet flushed from earlier
                # transactions: the difference is the batch's rows, the outbox's included.
                first = await conn.fetchval(_INSERTED)
                await actorbench.insert_batch(conn, one)  # (a savepoint inside: next to no WAL)
                rows = await conn.fetchval(_INSERTED) - first
            cpu += cpu_seconds(backend) - spent
            end = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
            least = min(least, float(await conn.fetchval("SELECT $1::pg_lsn - $2::pg_lsn",
                                                         end, start)))
    return {"wal_bytes_per_booking": round(least / batch), "rows_per_booking": rows / batch,
            "raw_ms_per_row": round(cpu * 1000 / (rows * tries), 4)}


def fsyncs_per_s() -> dict[str, float] | None:
    """`pg_test_fsync`'s one-write rates on this disk (ops/s by method), None without it."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_test_fsync"))
    tool = shutil.which("pg_test_fsync") or (str(found[-1]) if found else None)
    if tool is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([tool, "-s", "1", "-f", str(Path(tmp) / "probe")],
                             capture_output=True, text=True, check=False).stdout
    # The first block ("one 8kB write") is what a commit's WAL flush does.
    block = out.split("Compare file sync methods using two", 1)[0]
    return {m: float(v) for m, v in re.findall(r"^\s+(\w+)\s+([\d.]+) ops/sec", block, re.M)}


def rows(args: argparse.Namespace) -> list[bench.Row]:
    """The bench's two `queued` rows, both closed-loop at `args.concurrency`: below the
    gateways' in-flight bound, so requests are decided rather than shed with 503 (a
    capacity model wants the cost of a decision; the bench's saturated rows measure
    throughput)."""
    hot = scenarios.load(bench.SCENARIO)
    if args.requests:
        hot = replace(hot, load=replace(hot.load, requests=args.requests),
                      buyers=replace(hot.buyers, count=args.requests))
    many = scenarios.load(bench.MANY_EVENTS)
    if args.many_requests:
        many = scenarios.scaled(many, args.many_requests)
    chosen = {"hot-event": hot, "many-events": many}
    return [bench.Row(ROWS[name], "queued", replace(s, load=replace(
        s.load, mode="concurrency", concurrency=args.concurrency)))
        for name, s in chosen.items() if name in args.shapes]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every shape's unit costs and the write path's limits; the JSON report."""
    settings, env = await bench.bench_stack("ticketwar-capacity")
    base_env = {**env, "BENCH_ENDPOINTS": "1"}
    if args.gateway_processes:
        base_env["GATEWAY_PROCESSES"] = str(args.gateway_processes)
    bench_args = argparse.Namespace(gateway_processes=args.gateway_processes, seed=args.seed,
                                    generator_processes=args.generator_processes)
    pool = await create_pool(settings)
    issuer = TokenIssuer(settings)
    shapes, report_rows = [], []
    try:
        write_path = await wal_per_booking(pool)
        database = await pool.fetchval("SELECT current_database()")
        async with pool.acquire() as probe:
            for row in rows(args):
                name = next(s for s, label in ROWS.items() if label == row.label)
                backlog = await clear_outbox(env["DATABASE_URL"])
                rest = await rest_rates(base_env, database, args.rest_seconds,
                                        bench.gateway_processes(bench_args))
                before = await settled_writes(probe)
                _, json_row = await bench.measure(row, base_env, pool, issuer, bench_args)
                tables = written(before, await settled_writes(probe))
                shape, figures = shape_of(
                    name, json_row, sum(tables.values()), rest,
                    write_path["wal_bytes_per_booking"] / write_path["rows_per_booking"],
                    bench.WORKERS)
                batches = shard_batches(Path(".bench") / "metrics" / row.label.replace("/", "-"))
                shapes.append(shape)
                report_rows.append({**figures, "shape": name, "rows_by_table": tables,
                                    "outbox_cleared_before": backlog,
                                    "concurrency": args.concurrency, "shard_batches": batches,
                                    "bookings_per_batch": round(
                                        tables.get("bookings", 0) / batches, 1)
                                    if batches else None})
        inserts = await actorbench.measure(pool, args.insert_sizes, args.insert_bookings)
    finally:
        await pool.close()
    return {"machine": bench._machine(), "shapes": shapes, "rows": report_rows,
            "write_path": {**write_path, "batched_inserts": inserts,
                           "fsyncs_per_s": fsyncs_per_s()}}
