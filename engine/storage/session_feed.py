"""Revocations pushed into a gateway's `SessionView`: one dedicated connection LISTENs on
the sessions channel, and whenever it is (re-)established, every user whose version is not 0
and every signed-out token is read again — a notification sent while nobody listened is
lost for good. The first read completes before the gateway serves (`start`)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg
import orjson

from engine.errors import Unavailable
from engine.metrics import Metrics
from engine.sessions import SessionView
from engine.storage.database import TRANSIENT_DB_ERRORS
from engine.storage.sessions import CHANNEL, changed_versions, revoked_tokens

log = logging.getLogger(__name__)

#: How often an idle listening connection is probed: a peer that vanished without closing
#: the socket (a cut link, a host gone) raises no error until something is sent.
PROBE_SECONDS = 5.0
#: Longest pause between attempts to reconnect.
MAX_BACKOFF_SECONDS = 2.0


class SessionFeed:
    """Keeps a `SessionView` current from PostgreSQL `LISTEN/NOTIFY`, reconnecting as needed."""

    def __init__(self, dsn: str, view: SessionView, metrics: Metrics | None = None) -> None:
        self._dsn = dsn
        self._view = view
        self._metrics = metrics
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen (the database must be reachable now), then keep listening in the background."""
        try:
            await self._connect()
        except TRANSIENT_DB_ERRORS as exc:
            raise Unavailable(f"cannot listen for revocations: {exc}") from exc
        self._task = asyncio.create_task(self._watch(), name="session-feed")

    async def stop(self) -> None:
        """Stop listening; idempotent."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._close()

    @property
    def server_pid(self) -> int | None:
        """The listening backend's process id (None while reconnecting)."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else conn.get_server_pid()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=PROBE_SECONDS)
        try:
            self._lost.clear()
            conn.add_termination_listener(lambda _: self._lost.set())
            await conn.add_listener(CHANNEL, self._heard)
            # Listening first, reading second: a change made in between is heard, or read,
            # or both (merging is idempotent), never neither.
            self._view.refresh(await changed_versions(conn), await revoked_tokens(conn))
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=1)
            except TRANSIENT_DB_ERRORS:
                conn.terminate()

    async def _watch(self) -> None:
        delay = 0.05
        while True:
            if await self._alive():
                delay = 0.05
                continue
            await self._close()
            try:
                await self._connect()
            except TRANSIENT_DB_ERRORS as exc:
                log.warning("revocation feed down (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                continue
            log.info("revocation feed listening again; versions re-read")
            if self._metrics is not None:
                self._metrics.session_feed_reconnects.inc()

    async def _alive(self) -> bool:
        """Wait up to PROBE_SECONDS for the connection to drop; probe it if it did not."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await asyncio.wait_for(self._lost.wait(), PROBE_SECONDS)
            return False
        except TimeoutError:
            pass
        try:
            await conn.fetchval("SELECT 1", timeout=PROBE_SECONDS)
            return True
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("revocation feed probe failed: %s", exc)
            return False

    def _heard(self, conn: object, pid: int, channel: str, payload: object) -> None:
        try:
            message = orjson.loads(str(payload))
            if message["type"] == "user":
                self._view.user_version(int(message["user"]), int(message["version"]))
            elif message["type"] == "token":
                self._view.token_revoked(uuid.UUID(str(message["jti"])).hex,
                                         int(message["expires"]))
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            # Only our triggers write here; a bad payload is a bug to see, not a crash.
            log.error("unreadable revocation %r: %s", payload, exc)
