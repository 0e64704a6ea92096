"""After a fault: every accepted request reached exactly one final outcome, every 201 is in
the database with its tickets, and the invariants hold."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from engine.storage.invariants import check_invariants
from tests.factories import Account
from tests.helpers import Api, Reply, assert_eventually


async def surge(api: Api, buyers: Sequence[Account], event_ids: Sequence[int], requests: int,
                *, concurrency: int = 64, started: asyncio.Event | None = None,
                after: int = 0, keyed: bool = True) -> list[Reply]:
    """Fire `requests` bookings at a bounded concurrency; set `started` after `after` replies
    (the moment a test injects its fault). Bookings carry idempotency keys like real clients."""
    rng = random.Random(11)
    gate = asyncio.Semaphore(concurrency)
    replies: list[Reply] = []

    async def one(i: int) -> None:
        buyer = buyers[i % len(buyers)]
        async with gate:
            reply = await api.book(buyer, rng.choice(event_ids), 1,
                                   key=f"surge-{i}" if keyed else None)
        replies.append(reply)
        if started is not None and len(replies) == after:
            started.set()

    await asyncio.gather(*(one(i) for i in range(requests)))
    return replies


async def verify(api: Api, replies: Sequence[Reply], event_ids: Sequence[int]) -> None:
    """The invariants of docs/design.md, after the dust settles."""
    statuses = {r.status for r in replies}
    assert statuses <= {201, 202, 409, 422, 503}, statuses
    accepted = {r.body["id"]: r for r in replies if r.status in (201, 202)}
    decided = {r.body["booking"]["id"]: r for r in replies
               if r.status in (409, 422) and isinstance(r.body, dict)
               and isinstance(r.body.get("booking"), dict)}
    ids = list(accepted) + list(decided)

    async def all_final() -> bool:
        n = await api.pool.fetchval(
            "SELECT count(*) FROM bookings WHERE id = ANY($1::uuid[])"
            " AND status IN ('confirmed', 'rejected', 'cancelled')", ids)
        return bool(n == len(ids))

    # I3: every accepted request ends confirmed or rejected (the primary key makes it once).
    await assert_eventually(all_final, timeout=90, message="accepted requests without outcome")
    rows = {str(r["id"]): r for r in await api.pool.fetch(
        "SELECT b.id, b.status, array_agg(t.code ORDER BY t.code)"
        " FILTER (WHERE t.id IS NOT NULL) AS codes"
        " FROM bookings b LEFT JOIN tickets t ON t.booking_id = b.id"
        " WHERE b.id = ANY($1::uuid[]) GROUP BY b.id", ids)}
    # I2: a 201 is durable, with exactly the tickets the buyer was shown.
    for booking_id, reply in accepted.items():
        if reply.status == 201:
            row = rows[booking_id]
            assert row["status"] == "confirmed"
            assert row["codes"] == [t["code"] for t in reply.body["tickets"]]
    for booking_id in decided:
        assert rows[booking_id]["status"] == "rejected"
    report = await check_invariants(api.pool, list(event_ids))  # I1, I5, I6
    assert report.ok, report


