"""Session-wide fixtures: one fresh schema in the real test database, settings factories,
and an API client per test. Services that are absent fail the run; nothing is skipped."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.errors import Unavailable
from engine.settings import Secret, Settings
from engine.storage.migrate import migrate
from gateway.app import create_app
from tests.clock import CLOCK, FakeClock
from tests.helpers import Api
from tests.session_lock import DatabaseLock
from tests.worker import ShardWorker, delete_namespace

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ticketwar_test")
TEST_AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
_JWT_SECRET = secrets.token_urlsafe(48)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fault tests (they kill processes and restart services) run last."""
    items.sort(key=lambda item: item.get_closest_marker("fault") is not None)


@pytest.fixture(scope="session")
async def db_lock() -> AsyncIterator[DatabaseLock]:
    """This session's claim on the test database, held for its whole life: a second session
    on the same database is refused before it can wipe this one's data."""
    async with DatabaseLock(TEST_DATABASE_URL) as lock:
        yield lock


@pytest.fixture(scope="session")
async def db_pool(db_lock: DatabaseLock) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test database (created if missing), its schema rebuilt once per session."""
    pool = await fresh_pool(db_lock)
    yield pool
    await pool.close()


@pytest.fixture(autouse=True)
async def _database_still_ours(request: pytest.FixtureRequest) -> None:
    """A database restart (the fault tests make one) ends the lock's connection, and with it
    the lock: take it back before the next test that uses the database, or fail saying which
    session took the database meanwhile. Free while the connection stands."""
    if "db_lock" in request.fixturenames:
        await request.getfixturevalue("db_lock").check()


async def fresh_pool(lock: DatabaseLock) -> asyncpg.Pool:
    """A pool on the locked database, its schema rebuilt from scratch. The lock comes first:
    without it, the DROP below would be another live session's data."""
    conn = await asyncpg.connect(lock.dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await migrate(conn)
    finally:
        await conn.close()
    return await asyncpg.create_pool(lock.dsn, min_size=1, max_size=10)


#: RabbitMQ names used by this test session only (removed at the end).
AMQP_PREFIX = f"tw-test-{uuid.uuid4().hex[:8]}"
SHARDS = 4


def base_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for the test database; keyword overrides win. Limits are high by default so
    only the rate-limit tests meet them."""
    base: dict[str, Any] = dict(
        database_url=Secret(TEST_DATABASE_URL), jwt_secret=Secret(_JWT_SECRET),
        data_dir=data_dir, shards=SHARDS, booking_wait_seconds=10.0,
        rate_limit_booking="100000/second", rate_limit_auth="100000/second",
        rate_limit_default="100000/second", db_pool_max=20, amqp_prefix=AMQP_PREFIX,
        gateway_processes=1,  # a test's gateway is one process, whatever the machine
        payment_provider="fake", fake_payment_latency="0")
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """`base_settings` with a per-test data dir."""
    def make(**overrides: Any) -> Settings:
        return base_settings(tmp_path / ".ticketwar", **overrides)
    return make


@pytest.fixture(scope="session")
async def shard_worker(db_pool: asyncpg.Pool,
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ShardWorker]:
    """One shard worker for the session, in this process, consuming every shard queue of
    this session's namespace on the real broker."""
    settings = base_settings(tmp_path_factory.mktemp("worker"),
                             amqp_url=Secret(TEST_AMQP_URL))
    worker = ShardWorker(settings)
    try:
        await worker.start()
    except Unavailable as exc:
        pytest.fail(f"RabbitMQ unreachable at {TEST_AMQP_URL}: {exc}. Run `make services`.",
                    pytrace=False)
    yield worker
    await worker.stop()
    await delete_namespace(TEST_AMQP_URL, AMQP_PREFIX, SHARDS)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """The session clock (the one every gateway and actor of a test runs on), back to real
    time after the test."""
    yield CLOCK
    CLOCK.reset()


#: What a test marked `both_transports` runs over; every other test runs on the first.
TRANSPORTS = ("inproc", "rabbitmq")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test marked `both_transports` once per transport. Only tests whose outcome goes
    through the transport opt in; the rest would run twice without touching it."""
    if metafunc.definition.get_closest_marker("both_transports") is None:
        return
    if "transport" not in metafunc.fixturenames:
        raise pytest.UsageError(f"{metafunc.definition.nodeid} is marked both_transports but "
                                "builds no gateway (uses neither `api` nor `make_api`)")
    metafunc.parametrize("transport", TRANSPORTS, indirect=True)


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str:
    """The gateway's transport: in-process unless the test is marked `both_transports`."""
    return str(getattr(request, "param", TRANSPORTS[0]))


@pytest.fixture
def worker(transport: str, request: pytest.FixtureRequest) -> ShardWorker | None:
    """The session's shard worker when the transport is RabbitMQ (started on first use, so
    an inproc-only selection never needs the broker)."""
    if transport == "rabbitmq":
        return request.getfixturevalue("shard_worker")  # type: ignore[no-any-return]
    return None


@pytest.fixture
async def make_api(db_pool: asyncpg.Pool, aiohttp_client: Any, worker: ShardWorker | None,
                   make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """Build a gateway with these setting overrides and return an `Api` on it."""

    async def make(**overrides: Any) -> Api:
        if worker is not None:
            overrides.setdefault("amqp_url", Secret(TEST_AMQP_URL))
        payments = overrides.pop("payments", None)
        app = create_app(make_settings(**overrides), clock=CLOCK.now, sleeper=CLOCK.sleep,
                         payments=payments)
        client = await aiohttp_client(app)
        return Api(client, app, worker)
    return make


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> Api:
    """A gateway with default test settings (queued strategy, in-process transport)."""
    return await make_api()
