"""The database pool: what one checkout costs in round trips, counted on real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from engine.settings import Secret
from engine.storage import create_pool
from gateway.keys import pool_key
from tests.conftest import TEST_AMQP_URL, base_settings
from tests.helpers import Api


async def test_a_release_sends_no_reset_query(tmp_path: Path, db_pool: Any) -> None:
    pool = await create_pool(base_settings(tmp_path, db_pool_max=1))
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            # The logger stays on the connection across releases (asyncpg's own reset
            # drops listeners, not query loggers), so it also sees what release sends.
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.fetchval("SELECT $1::int", 1)
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT $1::int", 2)
    finally:
        await pool.close()
    assert sent == ["SELECT $1::int", "SELECT $1::int"]


async def test_a_transaction_left_open_is_still_rolled_back(tmp_path: Path,
                                                            db_pool: Any) -> None:
    """Without the reset query asyncpg still ends an open transaction on release."""
    pool = await create_pool(base_settings(tmp_path, db_pool_max=1))
    try:
        conn = await pool.acquire()
        tx = conn.transaction()
        await tx.start()
        await conn.execute("CREATE TEMP TABLE left_open (x int) ON COMMIT DROP")
        await pool.release(conn)
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            missing = await again.fetchval("SELECT to_regclass('pg_temp.left_open')")
            assert missing is None
    finally:
        await pool.close()
    assert isinstance(pool, asyncpg.Pool)


async def test_gateway_processes_share_the_connections_of_the_host(make_api: Any) -> None:
    """N gateway processes with DB_POOL_MAX each would open N times the connections one
    did, past PostgreSQL's max_connections on a many-core host: each takes its share."""
    api: Api = await make_api(amqp_url=Secret(TEST_AMQP_URL), gateway_processes=4,
                              db_pool_max=20)
    assert api.app[pool_key].get_max_size() == 5
    alone: Api = await make_api(gateway_processes=4, db_pool_max=20)  # in-process: one
    assert alone.app[pool_key].get_max_size() == 20


async def test_a_query_is_prepared_once_per_connection_and_kept(tmp_path: Path,
                                                                db_pool: Any) -> None:
    """asyncpg's statement cache (on by default) prepares each parameterised query once per
    connection; a pool made without it (statement_cache_size=0) would parse it every time."""
    pool = await create_pool(base_settings(tmp_path, db_pool_max=1))
    query = "SELECT $1::int + 0 AS prepared_once"
    try:
        for n in range(3):
            async with pool.acquire() as conn:
                await conn.fetchval(query, n)
        async with pool.acquire() as conn:
            kept = await conn.fetchval(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", query)
    finally:
        await pool.close()
    assert kept == 1
