"""`python -m ops.senderbench` (`make senderbench`): the outbox sender alone, on a backlog.

A sale's receipts are written by the shard actors' batches (the outbox triggers) and sent
by the outbox sender in the first gateway process of each host, on the cores that serve
HTTP — so what one email costs there is taken from the sale. This measures it without HTTP
or broker: N confirmed bookings inserted in batches (their receipts written by the
triggers, as in a sale), then one `OutboxSender` with the `log` notifier (its log quiet)
drains them — and any other row due in that database, so give it one of its own (by
default `ticketwar_bench`; `DATABASE_URL` names another). Reported per email: wall time,
the sender's own CPU (this process) and the machine's busy CPU over the drain (the sender
plus its PostgreSQL backends; run it on a quiet machine), at each batch size asked for
(`--batches`; 1 is one transaction per email, what the sender did before it batched).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from engine.notify.log import LogNotifier
from engine.notify.sender import OutboxSender
from engine.settings import Secret, Settings
from engine.storage import create_pool
from engine.storage.database import ensure_database
from ops import microbench
from ops.actorbench import DEFAULT_DB, fixtures, insert_batch, raw_batches

DEFAULT_BATCHES = (1, 20)
#: How often the backlog's unsent rows are counted while the sender drains them.
_POLL_SECONDS = 0.02


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def backlog(pool: asyncpg.Pool, emails: int) -> int:
    """`emails` confirmed bookings of a new event, each with the receipt its trigger
    writes, due now; the event's id."""
    event, users = await fixtures(pool, min(emails, 5000), emails)
    async with pool.acquire() as conn:
        for one in raw_batches(event, users, emails, 1000, quantity=1):
            await insert_batch(conn, one)
    return event


_UNSENT = """
SELECT count(*) FROM notifications n JOIN bookings b ON b.id = n.booking_id
 WHERE b.event_id = $1 AND n.sent_at IS NULL AND n.failed_at IS NULL
"""


async def drain_rate(pool: asyncpg.Pool, dsn: str, emails: int, batch: int) -> dict[str, Any]:
    """Send a backlog of `emails` receipts through one sender taking `batch` rows per
    transaction; the costs per email."""
    event = await backlog(pool, emails)
    sender = OutboxSender(dsn, LogNotifier(), mail_from="Tickets <tickets@bench.example>",
                          batch=batch)
    cpu, busy, started = time.process_time(), machine_busy_seconds(), time.perf_counter()
    await sender.start()
    try:
        # Polled: the sender's own loop sends most of the backlog, and says nothing when done.
        while await pool.fetchval(_UNSENT, event):  # noqa: ASYNC110
            await asyncio.sleep(_POLL_SECONDS)
        elapsed = time.perf_counter() - started
        cpu, busy = time.process_time() - cpu, machine_busy_seconds() - busy
    finally:
        await sender.stop()
    return {"event": event, "batch": batch, "emails": emails,
            "emails_per_s": round(emails / elapsed), "wall_us": round(elapsed / emails * 1e6),
            "sender_cpu_us": round(cpu / emails * 1e6),
            "machine_cpu_us": round(busy / emails * 1e6)}


def render(rows: Sequence[dict[str, Any]]) -> str:
    """The report as a table."""
    lines = [f"{'rows per transaction':>20} {'emails/s':>10} {'wall µs':>9}"
             f" {'sender CPU µs':>14} {'machine CPU µs':>15}   (per email)"]
    lines += [f"{r['batch']:>20} {r['emails_per_s']:>10,} {r['wall_us']:>9,}"
              f" {r['sender_cpu_us']:>14,} {r['machine_cpu_us']:>15,}" for r in rows]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole micro-bench; returns the JSON report."""
    db = os.environ.get("DATABASE_URL", DEFAULT_DB)
    await ensure_database(db)
    pool = await create_pool(Settings(database_url=Secret(db), data_dir=Path(".bench")))
    rows = []
    try:
        for _ in range(args.repeat):
            for batch in args.batches:
                rows.append(await drain_rate(pool, db, args.emails, batch))
                print(render(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        await pool.close()
    print(render(rows))
    return {"emails": args.emails, "rows": rows}


def arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options."""
    parser.add_argument("--batches", type=int, nargs="+", default=list(DEFAULT_BATCHES),
                        help="rows per transaction to measure (default 1 20)")
    parser.add_argument("--emails", type=int, default=5_000,
                        help="receipts in each backlog (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every size")


def main() -> None:
    """Entry point of `python -m ops.senderbench`."""
    logging.basicConfig(level=logging.WARNING)  # the log notifier's INFO lines stay quiet
    microbench.main("python -m ops.senderbench", __doc__, arguments, run, "senderbench")


if __name__ == "__main__":
    main()
