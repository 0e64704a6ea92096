"""The surge and bench tests get a database of their own: they create hundreds of events
(many-events alone has 200 per run), and the web UI tests, which read the public event list,
must not find their event buried under them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.conftest import TEST_DATABASE_URL, fresh_pool
from tests.session_lock import DatabaseLock


def _sibling(dsn: str, suffix: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}{suffix}"))


#: The test database's sibling for surges (`ticketwar_test` -> `ticketwar_test_surge`).
SURGE_DATABASE_URL = _sibling(TEST_DATABASE_URL, "_surge")


@pytest.fixture(scope="session")
async def surge_lock() -> AsyncIterator[DatabaseLock]:
    """This session's claim on the surge database (see tests/session_lock.py)."""
    async with DatabaseLock(SURGE_DATABASE_URL) as lock:
        yield lock


@pytest.fixture(scope="session")
async def surge_pool(surge_lock: DatabaseLock) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the surge database (created if missing), its schema rebuilt once."""
    pool = await fresh_pool(surge_lock)
    yield pool
    await pool.close()
