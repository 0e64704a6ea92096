"""The `hold-and-abandon` surge (issue 13): a paid event whose holders abandon, are declined,
pay too late or pay in time. Played at small size as a user would play it — over RabbitMQ
with shard workers, `naive` beside `queued` — and in-process with the fake provider's own
records held against the payments outbox; plus the checker catching what it must catch."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer

from engine.payments.fake import FakeProvider
from engine.types import Strategy, utcnow
from gateway.app import create_app
from gateway.keys import issuer_key, pool_key
from ops.surge import scenario as scenarios
from ops.surge.holds import HoldSampler, check_holds
from ops.surge.load import payment_for
from ops.surge.record import Sample
from ops.surge.runner import run_surge
from tests.conftest import TEST_AMQP_URL
from tests.surge.conftest import SURGE_DATABASE_URL
from tests.worker import delete_namespace

SCENARIO = Path(__file__).parents[2] / "ops" / "scenarios" / "hold-and-abandon.toml"


def test_the_holders_shares_hold_for_small_runs_too() -> None:
    payment = scenarios.load(SCENARIO).payment
    for holds in (20, 60, 1000):
        kinds = [payment_for(k, payment) for k in range(holds)]
        for kind, share in ((None, 0.3), ("declined-pay", 0.1), ("late-pay", 0.05),
                            ("pay", 0.55)):
            assert abs(kinds.count(kind) - share * holds) <= 1.5, (holds, kind)


def test_a_payment_section_needs_a_paid_event(tmp_path: Path) -> None:
    path = tmp_path / "free.toml"
    path.write_text("[payment]\nabandon_fraction = 0.3\n")
    with pytest.raises(scenarios.ScenarioError, match="paid event"):
        scenarios.load(path)
    path.write_text("[events]\nprice_cents = 5\n[payment]\nabandon_fraction = 0.7\n"
                    "declined_fraction = 0.5\n")
    with pytest.raises(scenarios.ScenarioError, match="add up to 1"):
        scenarios.load(path)


def _assert_holds(row: dict[str, Any], seats: int) -> dict[str, Any]:
    assert row["invariants_ok"], row["violations"]
    holds = row["holds"]
    assert holds["holds"] == seats == row["statuses"]["201"]  # the crowd took every seat
    # 30% abandon, 10% declined, 5% late: about 45% expire, the rest are paid.
    assert holds["paid"] + holds["expired"] == seats
    assert 0.35 * seats <= holds["expired"] <= 0.55 * seats, holds
    assert holds["declined"] >= 1 and holds["late_refunded"] >= 1, holds
    assert holds["refunds"] >= holds["late_refunded"]
    assert (holds["sold"], holds["free"]) == (holds["paid"], holds["expired"])
    assert row["confirmed_seats"] == holds["paid"]
    assert holds["expiry_delay_max_ms"] <= 1000
    assert holds["samples"] > 10 and holds["worst_excess"] <= 0
    return holds


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_hold_and_abandon_over_rabbitmq(surge_pool: asyncpg.Pool, tmp_path: Path) -> None:
    prefix = f"tw-holds-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RATE_LIMIT_", "SHARD", "MAX_REQUESTS_IN_FLIGHT"))}
    env.update(DATABASE_URL=SURGE_DATABASE_URL, JWT_SECRET=secrets.token_urlsafe(48),
               DATA_DIR=str(tmp_path / ".ticketwar"), AMQP_URL=TEST_AMQP_URL,
               AMQP_PREFIX=prefix, SHARDS="4", SHARD_WORKERS="2", GATEWAY_PROCESSES="1",
               # Every request decided, none shed: the crowd takes every seat.
               MAX_REQUESTS_IN_FLIGHT="1000")
    out = tmp_path / "out.json"
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "ops.cli", "--log-level", "WARNING", "surge",
             str(SCENARIO), "--compare", "naive,queued", "--requests", "300",
             "--json", str(out)],
            env=env, capture_output=True, text=True, timeout=220, check=False)
    finally:
        await delete_namespace(TEST_AMQP_URL, prefix, 4)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    naive, queued = orjson.loads(out.read_bytes())["runs"]
    assert (naive["strategy"], naive["refused"], naive["holds"]) == (
        "naive", "paid_needs_queued", None)
    assert naive["statuses"] == {"409": 300} and naive["invariants_ok"]
    assert "- naive: refused the scenario's paid events (409 paid_needs_queued)" in done.stdout
    holds = _assert_holds(queued, seats=150)
    assert holds["holds_per_s"] > 0
    for row in ("holds taken/s", "expiry delay p99 ms", "late payments refunded"):
        assert row in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_hold_and_abandon_in_process_matches_the_providers_records(
        make_settings: Any, db_pool: Any) -> None:
    # Latency above the late payers' lead (0.5 s): their money comes after the deadline.
    provider = FakeProvider((0.8, 1.2))
    app = create_app(make_settings(booking_strategy=Strategy.QUEUED,
                                   max_requests_in_flight=1_000), payments=provider)
    scenario = scenarios.scaled(scenarios.load(SCENARIO), 120)
    async with TestServer(app) as server:
        result = await run_surge(scenario, str(server.make_url("")).rstrip("/"),
                                 app[pool_key], app[issuer_key], strategy="queued",
                                 settle_seconds=30, provider=provider)
    holds = _assert_holds(result.to_json(), seats=scenario.events.seats)
    assert len(provider.successful()) == holds["paid"] + holds["refunds"]
    assert len(provider.refunds) == holds["refunds"]


async def test_the_checker_finds_overdue_holds_and_charges_without_tickets(
        surge_pool: asyncpg.Pool) -> None:
    db = surge_pool
    tag = uuid.uuid4().hex[:8]
    vendor, buyer = [await db.fetchval(
        "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id",
        f"{who}-{tag}@checker.example") for who in ("vendor", "buyer")]
    event = await db.fetchval(
        "INSERT INTO events (vendor_id, name, capacity, held, price_cents, hold_seconds)"
        " VALUES ($1, 'checker', 5, 1, 100, 10) RETURNING id", vendor)
    now = utcnow()
    stale, paid = uuid.uuid4(), uuid.uuid4()
    try:
        # A hold 3 s past its deadline, still open; a hold released 9 s after its deadline,
        # whose attempt was left `succeeded` (money taken: neither a ticket nor a refund).
        await db.execute(
            "INSERT INTO bookings (id, event_id, user_id, quantity, status, expires_at,"
            " amount_cents, currency) VALUES ($1, $3, $4, 1, 'held', $5, 100, 'EUR'),"
            " ($2, $3, $4, 1, 'expired', $6, 100, 'EUR')",
            stale, paid, event, buyer, now - timedelta(seconds=3), now - timedelta(seconds=9))
        await db.execute(
            "INSERT INTO payments (id, booking_id, user_id, event_id, amount_cents, currency,"
            " provider, status, charge_id) VALUES ($1, $2, $3, $4, 100, 'EUR', 'fake',"
            " 'succeeded', 'ch_x')", uuid.uuid4(), paid, buyer, event)
        sampler = HoldSampler(db, [event])
        async with sampler:
            report = await check_holds(db, [event], [Sample("late-pay", 409, 0, 0, str(paid))],
                                       sampler, settle_seconds=0.3)
    finally:
        # No open hold left behind for a later runtime's start-up wake-ups to find.
        await db.execute("DELETE FROM payments WHERE event_id = $1", event)
        await db.execute("DELETE FROM bookings WHERE event_id = $1", event)
        await db.execute("DELETE FROM events WHERE id = $1", event)
    text = " | ".join(report.violations)
    assert "still open after the last deadline" in text
    assert "seen open more than 1 s past their deadline" in text
    assert "holds released outside [deadline, deadline + 1 s]" in text  # 9 s late
    assert "charges without a ticket or a refund" in text
    assert "late payment of" in text and "seats still held at the end" in text
