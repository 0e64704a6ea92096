"""One live test session per database (tests/session_lock.py): a second session pointed at a
database another one is using refuses to start and leaves that one's data alone; a lock lost
with its connection (a database restart) is taken back, unless another session took the
database in between."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import TEST_DATABASE_URL
from tests.helpers import assert_eventually, scratch_database
from tests.session_lock import APPLICATION, LOCK_KEY, DatabaseLock

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def scratch() -> AsyncIterator[str]:
    """A database of these tests' own, beside the test database."""
    async with scratch_database(TEST_DATABASE_URL, "_lock") as url:
        yield str(url)


async def _holders(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["pid"] for r in await conn.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objid = $1 AND database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())", LOCK_KEY)]
    finally:
        await conn.close()


async def _cut(lock: DatabaseLock) -> None:
    """End the lock's connection from the server side, as a restart does."""
    (pid,) = await _holders(lock.dsn)
    conn = await asyncpg.connect(lock.dsn)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()

    async def gone() -> bool:
        return not lock.held

    await assert_eventually(gone, message="the lock's connection did not notice its end")


@pytest.mark.slow
async def test_a_second_session_on_a_database_in_use_refuses_and_wipes_nothing(
        scratch: str) -> None:
    async with DatabaseLock(scratch):
        conn = await asyncpg.connect(scratch)
        try:
            await conn.execute("CREATE TABLE live_session_data (x int)")
        finally:
            await conn.close()
        # A whole pytest session, as a neighbour's `make test` would start it on this
        # database; the test it runs needs the `db_pool` fixture (its schema rebuilt).
        env = {**os.environ, "TEST_DATABASE_URL": scratch}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
            "tests/test_cli.py::test_users_add_makes_a_vendor_who_can_sell", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
        text = out.decode()
        assert proc.returncode != 0, text
        assert "is in use by another live test session" in text, text
        assert f"{APPLICATION} pid={os.getpid()}" in text, text  # it says who holds it
        conn = await asyncpg.connect(scratch)
        try:  # the refused session never reached its DROP SCHEMA
            assert await conn.fetchval("SELECT to_regclass('live_session_data')") is not None
        finally:
            await conn.close()


async def test_a_lock_lost_with_its_connection_is_taken_back(scratch: str) -> None:
    async with DatabaseLock(scratch) as lock:
        (first,) = await _holders(scratch)
        await _cut(lock)
        assert await _holders(scratch) == []
        await lock.check()
        assert lock.held
        (again,) = await _holders(scratch)
        assert again != first


async def test_a_database_taken_by_another_session_meanwhile_fails_the_check(
        scratch: str) -> None:
    async with DatabaseLock(scratch) as lock:
        await _cut(lock)
        async with DatabaseLock(scratch):  # a neighbour starts while the lock is down
            with pytest.raises(pytest.fail.Exception, match="in use by another live test"):
                await lock.check()
            assert not lock.held
