"""The `queue-rush` surge (issue 14): buyers join a waiting room in the minute before a sale
opens, poll (or listen on the stream) as `refreshAfterSeconds` allows, book when admitted,
and a few try to book without an admission. Played small in-process over the real database
with the checker green; and the checker catching an admission out of order, a booking
without an admission, an admission after the sell-out and a sale that did not sell out."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from engine.types import Strategy, utcnow
from engine.waiting_room import rank
from gateway.app import create_app
from gateway.keys import issuer_key, pool_key
from ops.surge import scenario as scenarios
from ops.surge.queue_check import check_queue
from ops.surge.queue_rush import BuyerTrace, QueueRun
from ops.surge.report import table
from ops.surge.runner import run_surge

SCENARIO = Path(__file__).parents[2] / "ops" / "scenarios" / "queue-rush.toml"


def small() -> scenarios.Scenario:
    """The issue's scenario at 500 buyers, 50 seats, a 10 s pre-queue, 20 listeners."""
    shipped = scenarios.scaled(scenarios.load(SCENARIO), 500)
    return replace(shipped, events=replace(shipped.events, seats=50),
                   queue=replace(shipped.queue, prequeue_seconds=10.0, listeners=20))


def test_the_shipped_scenario_is_the_issues_and_scales_down() -> None:
    shipped = scenarios.load(SCENARIO)
    assert (shipped.buyers.count, shipped.events.seats) == (50_000, 1000)
    assert shipped.queue.prequeue_seconds == 60 and shipped.queue.enabled
    # Scaled, the crowd joins at the same rate, over a window no shorter than 5 s.
    scaled = scenarios.scaled(shipped, 5000)
    assert (scaled.buyers.count, scaled.events.seats) == (5000, 100)
    assert scaled.queue.prequeue_seconds == 6.0
    assert scenarios.scaled(shipped, 300).queue.prequeue_seconds == 5.0
    assert scenarios.scaled(shipped, 300).queue.listeners <= 300


@pytest.mark.parametrize(("text", "problem"), [
    ("[queue]\nsneak_fraction = 0.5", "queue.prequeue_seconds"),
    ("[queue]\nprequeue_seconds = 10\nlate_fraction = 2", "between 0 and 1"),
    ("[queue]\nprequeue_seconds = 10\nadmission_seconds = 5", "admission_seconds"),
    ("[buyers]\ncount = 10\n[queue]\nprequeue_seconds = 10\nlisteners = 11", "listeners"),
    ("[events]\nprice_cents = 5\n[queue]\nprequeue_seconds = 10", "free event"),
    ("[queue]\nprequeue_seconds = 10\n[waitlist]\njoiners = 5", "[waitlist]"),
    ("[queue]\nprequeue_seconds = 10\n[behaviour]\nretry_fraction = 0.5", "[behaviour]"),
])
def test_bad_queue_sections_say_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(scenarios.ScenarioError, match=problem.replace("[", r"\[")):
        scenarios.load(path)


def test_the_surge_help_explains_the_queue_rush() -> None:
    done = subprocess.run([sys.executable, "-m", "ops.cli", "surge", "--help"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert "ops/scenarios/queue-rush.toml" in done.stdout
    assert "refreshAfterSeconds" in done.stdout and "queue audit" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize("processes", [1, 2], ids=["one-generator", "two-generators"])
async def test_queue_rush_in_process_admits_in_the_audited_order(
        make_settings: Any, db_pool: asyncpg.Pool, processes: int) -> None:
    # Two generator processes (queue_fleet.py) play the same run, each its own buyers: the
    # merged traces and samples must give the checker the same whole run.
    app = create_app(make_settings(booking_strategy=Strategy.QUEUED,
                                   max_requests_in_flight=2_000))
    scenario = small()
    async with TestServer(app) as server:
        result = await run_surge(scenario, str(server.make_url("")).rstrip("/"),
                                 app[pool_key], app[issuer_key], strategy="queued",
                                 settle_seconds=30, processes=processes)
    row = result.to_json()
    print(table([result]))  # what a failure needs to be understood (shown by pytest then)
    assert row["invariants_ok"], row["violations"]
    queue = row["queue"]
    assert queue["joined"] == 500 and not queue["joins_refused"], queue
    late = round(500 * scenario.queue.late_fraction)
    assert queue["later"] >= late and queue["prequeued"] + queue["later"] == 500, queue
    assert row["statuses"]["201"] == 50 and row["confirmed_seats"] == 50  # sold out, once
    assert queue["admitted"] >= 50 and queue["used"] == 50, queue
    assert queue["admitted_after_sellout"] == 0
    # Those who tried to book out of turn (the planned sneaks who saw themselves waiting
    # before the room closed) were refused: none booked without an admission (checker).
    assert 0 < queue["sneaks"] <= round(500 * scenario.queue.sneak_fraction), queue
    assert queue["sneaks_refused"] > 0, queue
    assert 0 < queue["sellout_s"] < 60, queue
    assert queue["joins_per_s"] > 0 and queue["join_p99_ms"] > 0
    # Polled buyers learn at their next poll; listeners hear it pushed.
    assert queue["polls"] > 500 and queue["pushes"] > 0, queue
    for channel in ("poll", "stream"):
        assert queue["updates"][channel] > 0, queue
        assert 0 < queue["update_p99_ms"][channel] < 31_000, queue
    assert queue["unfinished"] == 0, queue
    # Arriving early in the pre-queue gave no advantage (a loose bound: 50 draws of a coin).
    assert 0.2 < queue["early_share"] < 0.8, queue


async def _room(db: asyncpg.Pool, seats: int, sold: int,
                entries: list[tuple[str, float, float | None]]) -> int:
    """An event with a room and its entries, all pre-queued, each (status, seconds ago it
    was admitted, seconds ago its account's confirmed booking was decided, or None), their
    admissions numbered in the seed's order."""
    tag = uuid.uuid4().hex[:8]
    vendor = await db.fetchval("INSERT INTO users (email, password_hash) VALUES ($1, 'x')"
                               " RETURNING id", f"v-{tag}@checker.example")
    now = utcnow()
    event = await db.fetchval(
        "INSERT INTO events (vendor_id, name, capacity, sold, sale_starts_at, waiting_room,"
        " admission_seconds) VALUES ($1, 'checker', $2, $3, $4, true, 60) RETURNING id",
        vendor, seats, sold, now - timedelta(seconds=60))
    await db.execute("INSERT INTO queue_rooms (event_id, seed, opened_at, version, head, rate)"
                     " VALUES ($1, $2, $3, 1, 0, 0)", event, SEED, now - timedelta(seconds=60))
    ids = sorted((uuid.uuid4() for _ in entries), key=lambda q: rank(SEED, q))
    for n, (queue_id, (status, admitted_ago, booked_ago)) in enumerate(
            zip(ids, entries, strict=True)):
        user = await db.fetchval("INSERT INTO users (email, password_hash) VALUES ($1, 'x')"
                                 " RETURNING id", f"{n}-{tag}@checker.example")
        await db.execute(
            "INSERT INTO queue_entries (id, event_id, user_id, join_no, prequeued, seq,"
            " admit_no, status, joined_at, admission_expires_at)"
            " VALUES ($1, $2, $3, $4, true, $4, $4, $5, $6, $7)",
            queue_id, event, user, n, status, now - timedelta(seconds=90),
            now - timedelta(seconds=admitted_ago - 60))
        if booked_ago is not None:
            await db.execute(
                "INSERT INTO bookings (id, event_id, user_id, quantity, status, decided_at)"
                " VALUES (gen_random_uuid(), $1, $2, 1, 'confirmed', $3)", event, user,
                now - timedelta(seconds=booked_ago))
    return event


async def _drop(db: asyncpg.Pool, event: int) -> None:
    for rows in ("queue_entries", "queue_rooms", "bookings"):
        await db.execute(f"DELETE FROM {rows} WHERE event_id = $1", event)
    await db.execute("DELETE FROM events WHERE id = $1", event)


SEED = b"s" * 16


async def test_the_checker_finds_what_the_room_broke(surge_pool: asyncpg.Pool) -> None:
    db = surge_pool
    # One admitted buyer booked and used the admission; a second booked without using
    # hers; a seat is left; and the first two admissions are swapped in the record.
    event = await _room(db, seats=3, sold=2, entries=[
        ("used", 50, 40), ("admitted", 50, 40), ("admitted", 50, None)])
    try:
        await db.execute("UPDATE queue_entries SET admit_no = admit_no + 10"
                         " WHERE event_id = $1", event)
        await db.execute("UPDATE queue_entries SET admit_no = CASE admit_no WHEN 10 THEN 1"
                         " WHEN 11 THEN 0 ELSE 2 END WHERE event_id = $1", event)
        report = await check_queue(db, [event], [], QueueRun(buyers=0))
    finally:
        await _drop(db, event)
    text = " | ".join(report.violations)
    assert "admission 1 is out of order" in text, text
    assert "1 bookings by accounts without a used admission" in text, text
    assert "did not sell out: 1 of 3 seats left" in text, text
    assert "3 entries no join of the run was answered with" in text, text
    assert report.admitted_after_sellout == 0  # no sell-out to be after


async def test_an_entry_unheard_after_an_unsure_join_is_no_lost_answer(
        surge_pool: asyncpg.Pool) -> None:
    db = surge_pool
    # Two entries nobody was answered with. One account's join went pending and, joined
    # again, was refused: the room had closed meanwhile, so it never heard of its entry.
    # The other's join was refused outright: its entry is an answer lost.
    event = await _room(db, seats=1, sold=1, entries=[("expired", 50, None),
                                                      ("expired", 50, None)])
    try:
        users = [r["user_id"] for r in await db.fetch(
            "SELECT user_id FROM queue_entries WHERE event_id = $1 ORDER BY join_no", event)]
        run = QueueRun(buyers=2)
        run.traces = [BuyerTrace(n, user, event, True, False, False, join_status=409,
                                 join_error="queue_closed", join_unsure=unsure)
                      for n, (user, unsure) in enumerate(zip(users, (True, False), strict=True))]
        report = await check_queue(db, [event], [], run)
    finally:
        await _drop(db, event)
    text = " | ".join(report.violations)
    assert "1 entries no join of the run was answered with" in text, text


async def test_the_checker_finds_an_admission_after_the_sell_out(
        surge_pool: asyncpg.Pool) -> None:
    db = surge_pool
    # The only seat sold 30 s ago; the second buyer was admitted 20 s ago, after it.
    event = await _room(db, seats=1, sold=1, entries=[("used", 50, 30), ("admitted", 20, None)])
    try:
        report = await check_queue(db, [event], [], QueueRun(buyers=0))
    finally:
        await _drop(db, event)
    text = " | ".join(report.violations)
    assert report.admitted_after_sellout == 1
    assert "1 admissions given after the sell-out" in text, text
    assert "out of order" not in text and "without a used admission" not in text, text
    assert report.sellout_s is not None and 29 < report.sellout_s < 31
