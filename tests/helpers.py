"""Test helpers: a small API client over the aiohttp test client, and bounded waiting."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from engine.auth import TokenIssuer
from engine.transport.inproc import InprocTransport
from engine.types import Role
from gateway.keys import issuer_key, notifications_key, pool_key, transport_key
from tests.contract import check_reply
from tests.factories import Account, create_accounts

if TYPE_CHECKING:
    from tests.worker import ShardWorker


@dataclass
class Reply:
    """Status, headers and decoded JSON of one response."""

    status: int
    body: Any
    headers: dict[str, str]
    #: The Idempotency-Key the request carried, if any (the checkers group attempts by it).
    key: str | None = None


class Api:
    """Calls the gateway the way a client does; also reaches the app's pool and runtime."""

    def __init__(self, client: TestClient, app: web.Application,
                 worker: ShardWorker | None = None) -> None:
        self.client = client
        self.app = app
        self.worker = worker
        self._marks: dict[int, asyncio.Event] = {}
        if worker is not None:
            app[notifications_key].on_stock(self._on_stock)

    def _on_stock(self, updates: Any) -> None:
        for u in updates:
            if u.event_id < 0 and u.event_id in self._marks:
                self._marks.pop(u.event_id).set()

    @property
    def pool(self) -> Any:
        """The app's database pool."""
        return self.app[pool_key]

    @property
    def issuer(self) -> TokenIssuer:
        """The app's token issuer."""
        return self.app[issuer_key]

    async def call(self, method: str, path: str, account: Account | None = None,
                   json: Any = None, headers: dict[str, str] | None = None,
                   data: Any = None) -> Reply:
        """One request; returns status, headers and the decoded JSON body (or text)."""
        merged = dict(account.headers if account else {})
        merged.update(headers or {})
        async with self.client.request(method, path, json=json, data=data,
                                       headers=merged) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = await resp.text()
            else:
                check_reply(method, path, resp.status, body)
            return Reply(resp.status, body, dict(resp.headers))

    async def accounts(self, count: int, role: Role = Role.USER) -> list[Account]:
        """Fresh accounts with tokens."""
        return await create_accounts(self.pool, self.issuer, count, role)

    async def account(self, role: Role = Role.USER) -> Account:
        """One fresh account with a token."""
        return (await self.accounts(1, role))[0]

    async def event(self, vendor: Account | None = None, **fields: Any) -> dict[str, Any]:
        """Create an event through the API (defaults: 100 seats, no per-user limit)."""
        vendor = vendor or await self.account(Role.VENDOR)
        body = {"name": "Test Event", "totalTickets": 100, **fields}
        reply = await self.call("POST", "/api/events", vendor, json=body)
        assert reply.status == 201, reply.body
        return dict(reply.body)

    async def book(self, account: Account, event_id: int, quantity: int | None = 1,
                   key: str | None = None) -> Reply:
        """POST /api/events/{id}/book."""
        headers = {"Idempotency-Key": key} if key else None
        body = None if quantity is None else {"quantity": quantity}
        reply = await self.call("POST", f"/api/events/{event_id}/book", account, json=body,
                                headers=headers)
        reply.key = key
        return reply

    async def transport_healthy(self) -> bool:
        """Whether the gateway's transport is connected (for bounded waits after faults)."""
        return bool(await self.app[transport_key].healthy())

    async def drain(self) -> None:
        """Barrier: every shard mailbox empty, every batch committed and answered, and
        (over RabbitMQ) every stock update delivered to this gateway."""
        transport = self.app[transport_key]
        if isinstance(transport, InprocTransport):
            await transport.drain()
        if self.worker is not None:
            await self.worker.drain()
            seen = asyncio.Event()
            mark = await self.worker.stock_mark_for(lambda m: self._marks.__setitem__(
                m.event_id, seen))
            async with asyncio.timeout(10):
                await seen.wait()
            del mark


async def assert_eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0,
                            interval: float = 0.05, message: str = "") -> None:
    """Await `check()` until it is true, failing after `timeout` seconds (bounded polling for
    cross-process outcomes that have no barrier to await)."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def blocked_on_an_event_row(pool: asyncpg.Pool) -> bool:
    """Whether some statement on this database waits for a row lock on `events` (an actor's
    claim or commit behind a test's `SELECT ... FOR UPDATE`): the batch is in flight, not
    merely "some actor is busy" (a runtime also wakes the events with open holds at start,
    which keeps actors busy too)."""
    return bool(await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE events %'"))


@contextlib.asynccontextmanager
async def scratch_database(beside: str, suffix: str) -> AsyncIterator[URL]:
    """The URL of a database beside `beside` (its name + `suffix`), absent on entry and
    dropped on exit, whoever is still connected to it."""
    base = URL(beside)
    url = base.with_path(f"{base.path}{suffix}")

    async def drop() -> None:
        admin = await asyncpg.connect(str(url.with_path("/postgres")))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.path[1:]}" WITH (FORCE)')
        finally:
            await admin.close()

    await drop()
    try:
        yield url
    finally:
        await drop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now): for a server to start
    on, or for a client to find closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A port p on 127.0.0.1 with p and p + 1 both free: for two processes that listen on
    a base port + their index (metrics ports)."""
    while True:
        port = free_port()
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port + 1))
            return port
