"""The test database itself: created on first use, so a fresh machine needs no setup step."""

from __future__ import annotations

import asyncpg
from yarl import URL

#: What a CREATE DATABASE raced by another session raises: 42P04 when the other one had
#: committed, or 23505 on pg_database's unique index when both were in flight at once.
ALREADY_CREATED = (asyncpg.exceptions.DuplicateDatabaseError,
                   asyncpg.exceptions.UniqueViolationError)


async def ensure_database(dsn: str) -> None:
    """Create the database `dsn` names if the server lacks it; a concurrent creator is fine.

    Connects to the `postgres` maintenance database of the same server to create it.
    """
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.exceptions.InvalidCatalogNameError:  # 3D000: no such database
        pass
    else:
        await conn.close()
        return
    url = URL(dsn)
    name = url.path.lstrip("/")
    admin = await asyncpg.connect(str(url.with_path("/postgres")))
    try:
        # An identifier cannot be a bind parameter; quoting keeps any name intact.
        await admin.execute('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
    except ALREADY_CREATED:
        pass
    finally:
        await admin.close()
