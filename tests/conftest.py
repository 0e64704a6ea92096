"""Session-wide fixtures: one fresh schema in the real test database, settings factories,
and an API client per test. Services that are absent fail the run; nothing is skipped."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.settings import Secret, Settings
from engine.storage.migrate import migrate
from gateway.app import create_app
from tests.helpers import Api

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ticketwar_test")
TEST_AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
_JWT_SECRET = secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
async def db_pool() -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test database, whose schema is rebuilt once per session."""
    try:
        conn = await asyncpg.connect(TEST_DATABASE_URL)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL test database unreachable at {TEST_DATABASE_URL}: {exc}. "
                    "Run `make services` (or .ci/run) first.", pytrace=False)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await migrate(conn)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(TEST_DATABASE_URL, min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for the test database; keyword overrides win. Limits are high by default so
    only the rate-limit tests meet them."""
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = dict(
            database_url=Secret(TEST_DATABASE_URL), jwt_secret=Secret(_JWT_SECRET),
            data_dir=tmp_path / ".ticketwar", shards=4, booking_wait_seconds=10.0,
            rate_limit_booking="100000/second", rate_limit_auth="100000/second",
            rate_limit_default="100000/second", db_pool_max=20)
        base.update(overrides)
        return Settings(**base)
    return make


@pytest.fixture
async def make_api(db_pool: asyncpg.Pool, aiohttp_client: Any,
                   make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """Build a gateway with these setting overrides and return an `Api` on it."""
    async def make(**overrides: Any) -> Api:
        app = create_app(make_settings(**overrides))
        client = await aiohttp_client(app)
        return Api(client, app)
    return make


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> Api:
    """A gateway with default test settings (queued strategy, in-process transport)."""
    return await make_api()
