"""Where the database is and how we connect: a configured server, or embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from urllib.parse import unquote, urlsplit

import asyncpg

from engine.errors import DatabaseTimeout, DatabaseUnreachable, OutcomeUnknown, Unavailable
from engine.settings import Secret, Settings, SettingsError
from engine.storage.migrate import migrate
from engine.storage.read_bound import BoundedPool, read_bound

log = logging.getLogger(__name__)

#: Errors after which the same statement may succeed: the server restarted, the connection
#: dropped, or the server is starting. Everything else is a bug or bad data and propagates.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,       # SQLSTATE class 08
    asyncpg.exceptions.CannotConnectNowError,         # 57P03: starting up / shutting down
    asyncpg.exceptions.AdminShutdownError,            # 57P01: restart -m immediate
    asyncpg.exceptions.CrashShutdownError,            # 57P02
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,                # "connection is closed" and kin
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


@contextmanager
def embedded_database(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a database: DATABASE_URL if set, else an embedded PostgreSQL
    (pgserver, data under data_dir/pgdata) that runs for the duration of the block.

    Blocking (initdb and start take seconds the first time): call it at an entry point,
    before the event loop runs.
    """
    if settings.database_url is not None:
        yield settings
        return
    pgdata = (settings.data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs (pgserver's) warns when XDG_RUNTIME_DIR is unset (root shells, CI)
        # and uses /tmp instead: nothing for whoever reads `make run`'s output to do.
        warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
        import pgserver  # imported lazily: only embedded mode needs it

        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        # The embedded demo is the one place the fake payment provider is the default.
        yield replace(settings, database_url=Secret(server.get_uri()),
                      payment_provider=settings.payment_provider or "fake")
    finally:
        server.cleanup()  # stops the server once no other process holds it


async def create_pool(settings: Settings, *, apply_migrations: bool = True,
                      on_statement: Callable[[], None] | None = None,
                      server_settings: dict[str, str] | None = None) -> asyncpg.Pool:
    """Connect a pool (retrying while the server starts) and bring the schema up to date.

    `on_statement` is called after every statement any of its connections sends (metrics:
    the count of database round trips is what the hot path is judged by);
    `server_settings`, PostgreSQL settings for each of its sessions."""
    if settings.database_url is None:
        raise SettingsError("no DATABASE_URL: wrap the entry point in embedded_database()")
    dsn = settings.database_url.reveal()
    delay = 0.2
    for attempt in range(8):
        try:
            # asyncpg.create_pool's own construction, with acquires bounded in requests.
            pool: asyncpg.Pool = await BoundedPool(
                dsn, min_size=1, max_size=settings.db_pool_max, command_timeout=30,
                max_queries=50_000, max_inactive_connection_lifetime=300.0, loop=None,
                connection_class=asyncpg.Connection, record_class=asyncpg.Record,
                init=None if on_statement is None else counting(on_statement),
                reset=keep_session, server_settings=server_settings)
            break
        except TRANSIENT_DB_ERRORS as exc:
            if attempt == 7:
                where = urlsplit(dsn)
                raise DatabaseUnreachable(
                    f"PostgreSQL unreachable at {where.hostname}:{where.port or 5432} after "
                    f"{attempt + 1} attempts ({type(exc).__name__}: {exc})",
                    hint="Start it, or point DATABASE_URL at a running server (unset "
                    "DATABASE_URL to use the embedded PostgreSQL)") from exc
            # The final error says it all; each attempt is for whoever asked for DEBUG.
            log.debug("database not ready (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
    if apply_migrations:
        async with pool.acquire() as conn:
            await migrate(conn)
    return pool


def counting(on_statement: Callable[[], None]
             ) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    """A pool `init` hook: each new connection reports its statements to `on_statement`."""
    async def init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda _query: on_statement())
    return init


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond what asyncpg always does.

    asyncpg's default runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release, one round trip per checkout, to undo session state a borrower may
    have left. Ours leave none: LISTEN happens on the revocation feed's own connection
    (`session_feed.py`), nothing runs a session-level `SET`, cursors live inside
    transactions, and the migration's advisory lock is released by the migration itself.
    Before calling this, asyncpg still rolls back a transaction left open and drops the
    connection's listeners (`Connection._reset`), so a failed borrower cannot leak one.
    A new kind of session state on pool connections must undo itself, or bring the
    default back (`Connection.reset`).
    """


#: What a CREATE DATABASE raced by another session raises: 42P04 when the other one had
#: committed, or 23505 on pg_database's unique index when both were in flight at once.
_ALREADY_CREATED = (asyncpg.exceptions.DuplicateDatabaseError,
                    asyncpg.exceptions.UniqueViolationError)


async def ensure_database(dsn: str) -> None:
    """Create the database `dsn` names if the server lacks it; a concurrent creator is fine.

    Creates it through the `postgres` maintenance database of the same server (tests and
    the benchmark use their own databases beside the application's).
    """
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.exceptions.InvalidCatalogNameError:  # 3D000: no such database
        pass
    else:
        await conn.close()
        return
    url = urlsplit(dsn)
    name = unquote(url.path.lstrip("/"))
    admin = await asyncpg.connect(url._replace(path="/postgres").geturl())
    try:
        # An identifier cannot be a bind parameter; doubling quotes keeps any name intact.
        await admin.execute('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
    except _ALREADY_CREATED:
        pass
    finally:
        await admin.close()


@asynccontextmanager
async def translate_db_errors(*, read: bool = False) -> AsyncIterator[None]:
    """Turn a dropped or restarting database into `Unavailable` (answered 503).

    `read`: the block only reads (a retry is safe), so in a gateway request's task it waits
    at most the request's bound (`read_bound`) and then raises `DatabaseTimeout`. Never for
    a block that writes: given up on, it may still commit, and 503 would say "not done".
    """
    seconds = read_bound() if read else None
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            yield
    except TRANSIENT_DB_ERRORS as exc:
        if deadline.expired():
            raise DatabaseTimeout(
                f"the database did not answer within {seconds:g} s") from exc
        raise Unavailable(f"database unavailable: {type(exc).__name__}") from exc



@asynccontextmanager
async def write_transaction(
        db: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction (of the pool, or `db` itself), for a write whose answer
    must not say "not done" when it was done.

    A failure before COMMIT propagates as it is — the server rolls back what a dropped
    connection left open, so `translate_db_errors` answers it `503`, nothing done. A
    failure while the COMMIT is in flight (the link cut, the server silent past the
    command timeout) raises `OutcomeUnknown`: the server may have committed and only the
    answer was lost. A statement sent outside a transaction has the same window for its
    whole run, which is why gateway writes go through here rather than autocommit.
    """
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, write_transaction(conn) as same:
            yield same
        return
    transaction = db.transaction()
    await transaction.start()
    try:
        yield db
    except BaseException:
        with contextlib.suppress(*TRANSIENT_DB_ERRORS):
            await transaction.rollback()
        raise
    try:
        await transaction.commit()
    except TRANSIENT_DB_ERRORS as exc:
        raise OutcomeUnknown("the database stopped answering while the change was being"
                             f" committed ({type(exc).__name__}): it may have been made"
                             ) from exc
