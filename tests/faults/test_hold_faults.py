"""A shard worker's host vanishes while buyers hold seats: nobody restarts it, and its holds
must still expire on time — the standby that takes over its queues has to learn of them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from engine.settings import Settings
from engine.storage.invariants import check_invariants
from engine.transport.amqp import Names
from tests.conftest import TEST_AMQP_URL
from tests.faults.conftest import SHARDS, api_factory, every_worker_consumes, worker_env
from tests.helpers import assert_eventually
from tests.worker import delete_namespace

pytestmark = [pytest.mark.fault, pytest.mark.slow]

WORKERS = 2
HOLD_SECONDS = 10  # the shortest hold an event may have


@pytest.fixture
async def unsupervised() -> AsyncIterator[tuple[str, list[asyncio.subprocess.Process]]]:
    """Two `python -m shards` processes and no supervisor: one killed stays dead, as a
    worker on a host that is gone."""
    prefix = f"tw-fault-{uuid.uuid4().hex[:8]}"
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shards", start_new_session=True,
        env={**worker_env(prefix), "SHARD_WORKER_INDEX": str(i),
             "SHARD_WORKERS": str(WORKERS)}) for i in range(WORKERS)]
    try:
        await every_worker_consumes(Names(prefix, SHARDS), WORKERS)
        yield prefix, procs
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        await asyncio.gather(*(asyncio.wait_for(p.wait(), 30) for p in procs))
        await delete_namespace(TEST_AMQP_URL, prefix, SHARDS)


async def test_holds_of_a_worker_that_never_returns_expire_on_time(
        unsupervised: tuple[str, list[asyncio.subprocess.Process]],
        make_settings: Callable[..., Settings], aiohttp_client: Any) -> None:
    prefix, procs = unsupervised
    api = await api_factory(prefix, make_settings, aiohttp_client)()
    # Enough events that both workers own some (SHARDS=4 over 2 workers).
    events = [(await api.event(totalTickets=4, priceCents=500, holdSeconds=HOLD_SECONDS))["id"]
              for _ in range(8)]
    buyers = await api.accounts(16)
    held = await asyncio.gather(*(api.book(b, events[i % len(events)], 1)
                                  for i, b in enumerate(buyers)))
    assert all(h.status == 201 and h.body["status"] == "held" for h in held), held
    ids = [uuid.UUID(h.body["id"]) for h in held]

    os.kill(procs[0].pid, signal.SIGKILL)  # its timers die with it; nobody restarts it
    await procs[0].wait()

    async def all_expired() -> bool:
        return await api.pool.fetchval(
            "SELECT count(*) FROM bookings WHERE id = ANY($1) AND status = 'expired'",
            ids) == len(ids)
    await assert_eventually(all_expired, timeout=HOLD_SECONDS + 30, interval=0.25,
                            message="holds of the dead worker's events never expired")
    late = await api.pool.fetchval(
        "SELECT max(decided_at - expires_at) FROM bookings WHERE id = ANY($1)", ids)
    assert late < timedelta(seconds=1), f"an expiry came {late} after its deadline"
    seats = await api.pool.fetchval("SELECT sum(held) FROM events WHERE id = ANY($1)", events)
    assert seats == 0
    report = await check_invariants(api.pool, events)
    assert report.ok, report
