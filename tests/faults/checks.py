"""After a fault: every accepted request reached exactly one final outcome, every 201 is in
the database with its tickets, and the invariants hold."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence

from engine.storage.invariants import all_refused, check_answers, check_invariants
from tests.factories import Account
from tests.helpers import Api, Reply


async def surge(api: Api, buyers: Sequence[Account], event_ids: Sequence[int], requests: int,
                *, concurrency: int = 64, started: asyncio.Event | None = None,
                after: int = 0, keyed: bool = True) -> list[Reply]:
    """Fire `requests` bookings at a bounded concurrency; set `started` after `after` replies
    (the moment a test injects its fault). Bookings carry idempotency keys like real clients,
    unique to this call (the checkers trace a refused key across the whole database)."""
    rng = random.Random(11)
    run = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(concurrency)
    replies: list[Reply] = []

    async def one(i: int) -> None:
        buyer = buyers[i % len(buyers)]
        async with gate:
            reply = await api.book(buyer, rng.choice(event_ids), 1,
                                   key=f"surge-{run}-{i}" if keyed else None)
        replies.append(reply)
        if started is not None and len(replies) == after:
            started.set()

    await asyncio.gather(*(one(i) for i in range(requests)))
    return replies


async def verify(api: Api, replies: Sequence[Reply], event_ids: Sequence[int]) -> None:
    """The invariants of docs/design.md, after the dust settles."""
    statuses = {r.status for r in replies}
    assert statuses <= {201, 202, 409, 422, 503}, statuses
    # I2, I3: every answer is borne out by the database, once the 202s are decided.
    answers = await check_answers(
        api.pool, shown={r.body["id"]: [t["code"] for t in r.body["tickets"]]
                         for r in replies if r.status == 201},
        accepted=[r.body["id"] for r in replies if r.status == 202],
        rejected=[r.body["booking"]["id"] for r in replies if r.status in (409, 422)
                  and isinstance(r.body, dict) and isinstance(r.body.get("booking"), dict)],
        # A 503 means "not done": the booking id it names must never exist, and a key every
        # attempt of which was refused has no booking.
        refused=[r.body["bookingId"] for r in replies if r.status == 503
                 and isinstance(r.body, dict) and "bookingId" in r.body],
        refused_keys=all_refused((r.key, r.status) for r in replies),
        settle_seconds=90)
    assert answers.ok, answers
    report = await check_invariants(api.pool, list(event_ids))  # I1, I5, I6
    assert report.ok, report
