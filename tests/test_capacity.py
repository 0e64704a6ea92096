"""The capacity model: host counts from unit costs, and the measurements it is fed."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import asyncpg
import orjson
import pytest

from ops.capacity.measure import (
    clear_outbox,
    settled_writes,
    shape_of,
    table_writes,
    wal_per_booking,
    written,
)
from ops.capacity.model import Hosts, Shape, plan, primary_rows_per_s
from tests.conftest import TEST_DATABASE_URL

ROOT = Path(__file__).parents[1]
#: Round figures, so every count below can be checked by hand.
SHAPE = Shape(name="many-events", gateway_ms_per_request=0.5, commands_per_request=1.0,
              worker_ms_per_command=0.25, rows_per_request=4.0, postgresql_ms_per_row=0.01,
              messages_per_request=2.0, broker_ms_per_message=0.1, wal_bytes_per_row=250.0,
              quorum_messages_per_request=2.0)
HOSTS = Hosts(cores=16, utilisation=0.5, broker_replicas=3, wal_mb_per_s=100.0)


def test_cores_and_hosts_follow_from_the_unit_costs() -> None:
    p = plan(SHAPE, 100_000, HOSTS)  # 8 usable cores a host
    assert p.needs["gateway"].cores == 50.0 and p.needs["gateway"].hosts == 7
    assert p.needs["worker"].cores == 25.0 and p.needs["worker"].hosts == 4
    # 2 messages x 0.1 ms x 3 replicas = 0.6 ms a request: 60 cores, 8 hosts, made odd.
    assert p.needs["broker"].cores == 60.0 and p.needs["broker"].hosts == 9
    assert p.rows_per_s == 400_000 and p.needs["postgresql"].cores == 4.0


def test_one_primary_is_bounded_by_its_cores_or_its_wal_whichever_comes_first() -> None:
    # 8 cores / 0.01 ms = 800,000 rows/s by CPU; 100 MB/s / 250 B = 400,000 by WAL.
    assert primary_rows_per_s(SHAPE, HOSTS) == 400_000
    assert primary_rows_per_s(SHAPE, replace(HOSTS, wal_mb_per_s=1000)) == 800_000
    assert plan(SHAPE, 100_000, HOSTS).postgresql_clusters == 1
    big = plan(SHAPE, 1_000_000, HOSTS)  # 4,000,000 rows/s: ten primaries
    assert big.postgresql_clusters == 10 and big.needs["postgresql"].hosts == 10


def test_only_messages_on_quorum_queues_are_paid_once_per_replica() -> None:
    # Half the messages are outcomes, on one node: 100,000 x (1 x 3 + 1) x 0.1 ms.
    half = replace(SHAPE, quorum_messages_per_request=1.0)
    assert plan(half, 100_000, HOSTS).needs["broker"].cores == 40.0


def test_a_cost_too_small_to_measure_bounds_nothing() -> None:
    free = replace(SHAPE, postgresql_ms_per_row=0.0, wal_bytes_per_row=0.0)
    p = plan(free, 100_000, HOSTS)
    assert p.postgresql_clusters == 1 and p.to_json()["primary_rows_per_s"] is None


def test_a_cluster_has_three_brokers_at_least_and_always_an_odd_number() -> None:
    quiet = replace(SHAPE, messages_per_request=0.01)
    assert plan(quiet, 1000, HOSTS).needs["broker"].hosts == 3
    assert plan(SHAPE, 100_000, HOSTS).needs["broker"].hosts % 2 == 1


def test_stock_updates_cost_the_brokers_per_worker_and_subscriber_not_per_request() -> None:
    selling = replace(SHAPE, stock_per_worker_s=50.0)
    # 25 worker processes, each update delivered to 50 gateway processes: 25 x 50 x 51.
    assert plan(selling, 100_000, HOSTS).stock_messages_per_s == 63_750
    # One subscription per gateway host (7 hosts): 25 x 50 x 8.
    relayed = plan(selling, 100_000, replace(HOSTS, stock_per_host=True))
    assert relayed.stock_messages_per_s == 10_000
    assert relayed.needs["broker"].cores == pytest.approx(60.0 + 10_000 * 0.1 / 1000)


def test_a_bench_row_gives_the_unit_costs_per_command_row_and_message() -> None:
    row = {"requests": 10_000, "throughput_rps": 500.0, "duration_s": 20.0,
           "statuses": {"201": 4000, "409": 6000}, "invariants_ok": True,
           "cpu": {"components_ms_per_request": {
               "gateway": 0.6, "workers": 0.2, "postgresql": 0.5, "postgresql_db": 0.3,
               "rabbitmq": 0.9}},
           "broker_per_request": {"commands": {"published": 0.4, "delivered": 0.4},
                                  "messages": {"published": {"commands": 0.4, "outcomes": 0.3,
                                                             "stock": 0.1},
                                               "delivered": {"commands": 0.4, "outcomes": 0.4,
                                                             "stock": 0.4}}}}
    # At rest the broker spent 0.05 s a second (others' work): over the row's 20 s, 0.1 ms
    # of each request; the idle stack's gateway 0.025 s a second, 0.05 ms a request. The
    # sale's database at rest is autovacuum after writes: a cost of rows, kept.
    rest = {"rabbitmq": 0.05, "gateway": 0.025, "postgresql_db": 0.01}
    shape, figures = shape_of("many-events", row, rows=15_000, rest=rest,
                              wal_bytes_per_row=200.0, workers=2)
    assert shape.gateway_ms_per_request == pytest.approx(0.55)
    assert shape.worker_ms_per_command == pytest.approx(0.5)
    assert shape.rows_per_request == pytest.approx(1.5)
    assert shape.postgresql_ms_per_row == pytest.approx(0.2)
    assert shape.messages_per_request == pytest.approx(1.5)  # stock apart
    assert shape.quorum_messages_per_request == pytest.approx(0.8)  # the commands
    assert shape.broker_ms_per_message == pytest.approx(0.8 / 2.0)  # stock's share paid
    assert shape.stock_per_worker_s == pytest.approx(0.1 * 10_000 / 20 / 2)
    assert figures["components_ms_per_request_raw"]["gateway"] == 0.6
    assert figures["postgresql_all_ms_per_row"] == pytest.approx(0.5 / 1.5, abs=1e-4)


async def test_rows_written_are_read_from_postgresql_without_the_buyers_set_up(
        db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as probe:
        before = await table_writes(probe)
        # A connection of its own, closed after: its counters are flushed when its backend
        # exits, as the stack's are when a bench row stops it.
        conn = await asyncpg.connect(TEST_DATABASE_URL)
        try:
            user = await conn.fetchval(
                "INSERT INTO users (email, password_hash, role) VALUES"
                " ('capacity-' || gen_random_uuid() || '@example.com', 'x', 'USER')"
                " RETURNING id")
            await conn.execute("INSERT INTO events (vendor_id, name, capacity)"
                               " SELECT $1, 'capacity', 1 FROM generate_series(1, 3)", user)
        finally:
            await conn.close()
        tables = written(before, await settled_writes(probe))
    assert tables.get("events", 0) >= 3  # more if an idle connection flushed its counts too
    assert "users" not in tables


async def test_receipts_left_unsent_are_cleared_before_a_row(db_pool: asyncpg.Pool) -> None:
    """Else a new stack's sender works them off while it is measured as idle."""
    await wal_per_booking(db_pool, batch=8, tries=1)  # 8 confirmed bookings, 8 receipts
    assert await clear_outbox(TEST_DATABASE_URL) >= 8
    assert await db_pool.fetchval(
        "SELECT count(*) FROM notifications WHERE sent_at IS NULL AND failed_at IS NULL") == 0
    assert await clear_outbox(TEST_DATABASE_URL) == 0


async def test_the_wal_of_a_batch_of_bookings_is_measured_per_booking(
        db_pool: asyncpg.Pool) -> None:
    # Enough rows for the backend's CPU to span several of /proc's 10 ms clock ticks (CI: 2
    # batches of 64 read as 0.0 once).
    found = await wal_per_booking(db_pool, batch=256, tries=4)
    # A booking, its ticket, its key and its receipt: 4 rows, each a heap tuple and index
    # entries in the WAL, some hundreds of bytes (full-page images after a checkpoint
    # can only make one try dearer; the least of the tries is kept).
    assert found["rows_per_booking"] == 4
    assert 100 < found["wal_bytes_per_booking"] / 4 < 5000
    assert found["raw_ms_per_row"] > 0  # the backend's own CPU, read from /proc


def test_a_report_is_planned_again_for_other_hosts_without_measuring(tmp_path: Path) -> None:
    source = tmp_path / "capacity.json"
    source.write_bytes(orjson.dumps({"shapes": [asdict(SHAPE)]}))
    out = subprocess.run(
        [sys.executable, "-m", "ops.capacity", "--from", str(source), "--cores", "32",
         "--rates", "100000"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "hosts of 32 cores" in out
    planned = orjson.loads(source.with_suffix(".plan.json").read_bytes())
    assert planned["hosts"]["cores"] == 32
    assert planned["plans"][0]["needs"]["gateway"]["hosts"] == 3  # 50 cores / 19.2 usable
