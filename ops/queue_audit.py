"""`ticketwar queue audit EVENT`: print the order a waiting room admitted its buyers in, and
check it against the rules — the pre-queue in the order its stored seed gives (SHA-256 of
seed and entry), then first in, first out, nobody admitted twice, every admission that was
used backed by a booking of the event. Exit 0 when it holds, 1 when not, 2 without a room."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from engine.settings import Settings
from engine.storage import create_pool
from engine.storage.queue_rooms import AuditRecord, audit_record
from engine.waiting_room import audit
from ops.environment import database


def add_parser(sub: Any) -> None:
    """Register `queue` on the CLI's subparsers."""
    queue = sub.add_parser("queue", help="inspect waiting rooms")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    check = queue_sub.add_parser(
        "audit", help="print a waiting room's admission order and check it",
        description="Print the order the event's waiting room admitted buyers in and check "
        "it: the pre-queue shuffled by the room's stored seed (anyone can recompute it), "
        "then first in, first out. Exit 1 when a rule is broken.")
    check.add_argument("event", type=int, help="the event id")
    check.set_defaults(func=cmd_audit)


def problems(record: AuditRecord) -> list[str]:
    """Every rule the record breaks (empty: it follows them all)."""
    found = audit(record.seed, record.prequeued, record.later,
                  [a.queue_id for a in record.admissions])
    found += [f"user {u} used an admission without a booking"
              for u in record.used_without_booking]
    return found


def report(record: AuditRecord) -> list[str]:
    """The lines the command prints."""
    lines = [f"event {record.event_id}: seed {record.seed.hex()}, "
             f"opened {_at(record.opened_at)}, closed {_at(record.closed_at)}",
             f"{'#':>5}  {'queue id':<36}  {'user':>8}  {'pre-queued':<10}  status"]
    lines += [f"{n:>5}  {a.queue_id}  {a.user_id:>8}  {'yes' if a.prequeued else 'no':<10}"
              f"  {a.status}" for n, a in enumerate(record.admissions, start=1)]
    found = problems(record)
    lines.append(f"{len(record.admissions)} admissions of {len(record.prequeued)} pre-queued "
                 f"and {len(record.later)} later entries: " + (
                     "the order follows the rules (the seed's shuffle, then first in, first "
                     "out)" if not found else "RULES BROKEN"))
    lines += [f"  - {p}" for p in found]
    return lines


def _at(value: Any) -> str:
    return "not yet" if value is None else value.isoformat(timespec="seconds")


async def _read(settings: Settings, event_id: int) -> AuditRecord | None:
    pool = await create_pool(settings)
    try:
        return await audit_record(pool, event_id)
    finally:
        await pool.close()


def cmd_audit(args: argparse.Namespace, configured: Settings) -> int:
    """Print and check one event's admission order."""
    with database(configured) as settings:
        record = asyncio.run(_read(settings, args.event))
    if record is None:
        print(f"event {args.event} has no waiting room anyone joined")
        return 2
    for line in report(record):
        print(line)
    return 1 if problems(record) else 0
