"""The outbox sender's micro-bench: a backlog of receipts drained at a given batch size."""

from __future__ import annotations

import asyncpg

from ops.senderbench import drain_rate, render
from tests.conftest import TEST_DATABASE_URL


async def test_a_backlog_is_drained_and_its_costs_reported(db_pool: asyncpg.Pool) -> None:
    row = await drain_rate(db_pool, TEST_DATABASE_URL, emails=30, batch=10)
    assert (row["batch"], row["emails"]) == (10, 30)
    assert row["emails_per_s"] > 0 and row["wall_us"] > 0
    assert row["wall_us"] >= row["sender_cpu_us"] / 2  # one process on at most two cores
    settled = await db_pool.fetch(
        "SELECT n.sent_at, n.attempts FROM notifications n JOIN bookings b"
        " ON b.id = n.booking_id WHERE b.event_id = $1", row["event"])
    assert len(settled) == 30
    assert all(r["sent_at"] is not None and r["attempts"] == 1 for r in settled)
    assert "rows per transaction" in render([row])
