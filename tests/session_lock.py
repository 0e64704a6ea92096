"""One live test session per database.

A session drops and rebuilds its database's schema when it starts (`fresh_pool`), so a second
session pointed at a database another one is using wipes that one's users, events and keys
mid-run: its tests then fail in ways that look like engine bugs (an account it just created
"needs a password", a foreign key to a user it just made, two bookings where the neighbour's
user of the same id booked too). So a session holds a PostgreSQL advisory lock on its
database for as long as it lives, taken before it touches the schema; a session that finds
the lock held refuses to start, saying who holds it. The lock lives on a connection of its
own: PostgreSQL releases it when that connection ends, so a session that dies, however it
dies, frees its database.
"""

from __future__ import annotations

import os
from types import TracebackType
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import pytest

from engine.storage.database import TRANSIENT_DB_ERRORS, ensure_database

#: The advisory lock's key (one bigint; advisory locks are per database, so one key serves
#: every test database). Below 2**31, so pg_locks shows it as classid 0, objid LOCK_KEY.
LOCK_KEY = 0x74775453  # "twTS": Ticket War Test Session

#: pg_stat_activity names the holder with this, so a refused session can say who it is.
APPLICATION = "ticketwar-tests"


def _label() -> str:
    # PostgreSQL keeps 63 bytes of an application_name.
    return f"{APPLICATION} pid={os.getpid()} {os.getcwd()}"[:63]


class DatabaseLock:
    """This session's claim on one test database (see the module docstring)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.database = unquote(urlsplit(dsn).path.lstrip("/"))
        #: What a refused session is told to use instead: a sibling database of its own.
        parts = urlsplit(dsn)
        self.suggestion = urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_<you>"))
        self._conn: asyncpg.Connection | None = None

    async def acquire(self) -> None:
        """Create the database if missing and take its lock; fail the run if the server is
        unreachable or another live session holds the lock."""
        try:
            await ensure_database(self.dsn)
            await self._take()
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.fail(f"PostgreSQL test database unreachable at {self.dsn}: {exc}. "
                        "Run `make services` (or .ci/run) first.", pytrace=False)

    async def check(self) -> None:
        """Still ours? The lock goes with its connection (a database restart ends it): take
        it back; fail if another session took the database in between. A server that is
        still away is asked again at the next check."""
        if self.held:
            return
        self._conn = None
        try:
            await self._take()
        except TRANSIENT_DB_ERRORS + (asyncpg.exceptions.CannotConnectNowError,):
            return

    @property
    def held(self) -> bool:
        """True while the connection that holds the lock stands."""
        return self._conn is not None and not self._conn.is_closed()

    async def release(self) -> None:
        """End the claim (closing its connection releases the lock); idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()

    async def __aenter__(self) -> DatabaseLock:
        await self.acquire()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.release()

    async def _take(self) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={"application_name": _label()})
        try:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
                self._conn, conn = conn, None
                return
            holder = await conn.fetchrow(
                "SELECT a.pid, a.application_name, a.backend_start, a.client_addr"
                " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0"
                " AND l.objid = $1 AND l.objsubid = 1"
                " AND l.database = (SELECT oid FROM pg_database"
                "                   WHERE datname = current_database())", LOCK_KEY)
        finally:
            if conn is not None:
                await conn.close()
        who = "another session" if holder is None else (
            f"{holder['application_name'] or 'a session'} (backend pid {holder['pid']}, "
            f"connected {holder['backend_start']:%Y-%m-%d %H:%M:%S %Z})")
        pytest.fail(
            f"the test database {self.database!r} is in use by another live test session: "
            f"{who}. A session drops and rebuilds its database's schema, so two at once wipe "
            "each other's data mid-run. Give this one a database of its own, e.g. "
            f"TEST_DATABASE_URL={self.suggestion}, or wait "
            "for that session to end.", pytrace=False)
