"""Nothing stored can break a reader: the database refuses what the API refuses, migration
0002 repairs what older versions stored before refusing it, and the event readers survive
the values PostgreSQL can hold but Python cannot compare (±infinity)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from engine.storage import events
from engine.storage.migrate import available
from engine.types import utcnow
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import Api

#: (column values that one constraint must refuse) for an event of vendor $1.
BAD_EVENTS = [
    {"sale_starts_at": "-infinity"}, {"sale_starts_at": "infinity"},
    {"starts_at": "1999-12-31 23:59:59+00"}, {"starts_at": "2101-01-01 00:00:00+00"},
    {"name": "bell\u0007"}, {"name": "c1\u0085"}, {"name": "Cafe\u0301"},
    {"venue": "v" * 201}, {"venue": "tab\there"},
]
BAD_USERS = [{"email": "ctl\u0001@example.com"}, {"email": "e\u0301@example.com"},
             {"email": "x" * 250 + "@e.co"}, {"name": "n" * 101}, {"name": "nl\nname"}]


async def _insert(conn: asyncpg.Connection | asyncpg.Pool, table: str,
                  values: dict[str, object]) -> None:
    columns = ", ".join(values)
    # Dates go as text, so '-infinity' can be written as an old version could have.
    params = ", ".join(f"${i}::text::timestamptz" if k.endswith("_at") else f"${i}"
                       for i, k in enumerate(values, 1))
    await conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({params})",
                       *values.values())


def _event(vendor_id: int, **values: object) -> dict[str, object]:
    return {"vendor_id": vendor_id, "name": "ok", "capacity": 1, **values}


def _user(**values: object) -> dict[str, object]:
    return {"email": f"{uuid.uuid4().hex}@example.com", "password_hash": "x", **values}


async def test_the_database_refuses_what_the_api_refuses(api: Api) -> None:
    vendor = await api.account()
    for values in BAD_EVENTS:
        with pytest.raises(asyncpg.CheckViolationError):
            await _insert(api.pool, "events", _event(vendor.id, **values))
    for values in BAD_USERS:
        with pytest.raises(asyncpg.CheckViolationError):
            await _insert(api.pool, "users", _user(**values))
    # The edges of the window and plain text are accepted.
    await _insert(api.pool, "events", _event(
        vendor.id, starts_at="2000-01-01 00:00:00+00", sale_starts_at="2100-12-31 23:59:59+00",
        name="Caf\u00e9", venue="Hall"))


@pytest.fixture
async def old_schema() -> AsyncIterator[asyncpg.Connection]:
    """A connection to a scratch schema that holds only migration 0001."""
    name = f"old_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(TEST_DATABASE_URL)
    await conn.execute(f"CREATE SCHEMA {name}; SET search_path TO {name}")
    try:
        await conn.execute(available()[0][1])
        yield conn
    finally:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")
        await conn.close()


async def test_one_odd_row_cannot_break_the_event_readers(
        old_schema: asyncpg.Connection) -> None:
    await _insert(old_schema, "users", _user())
    vendor = await old_schema.fetchval("SELECT id FROM users")
    for values in ({"sale_starts_at": "-infinity"}, {"sale_starts_at": "infinity"},
                   {"starts_at": "-infinity"}):
        await _insert(old_schema, "events", _event(vendor, **values))
    # The later migrations that add columns the readers select (not 0002, which repairs).
    for _version, sql in available()[2:]:
        await old_schema.execute(sql)
    listed = await events.list_events(old_schema)
    by_sale = {e.sale_starts_at: e.to_json(utcnow()) for e in listed}
    assert by_sale[None]["status"] == "on_sale"  # -infinity: on sale since forever
    assert by_sale[datetime.max.replace(tzinfo=UTC)]["status"] == "scheduled"
    assert all(e.starts_at is None or e.starts_at.tzinfo for e in listed)


async def test_migration_0002_repairs_old_rows_before_refusing_them(
        old_schema: asyncpg.Connection) -> None:
    for values in BAD_USERS + [{"email": "Cafe\u0301@example.com"},
                               {"email": "caf\u00e9@example.com"}]:
        await _insert(old_schema, "users", _user(**values))
    vendor = await old_schema.fetchval("SELECT min(id) FROM users")
    for values in BAD_EVENTS + [{"name": " \u0001 "}]:
        await _insert(old_schema, "events", _event(vendor, **values))
    version, sql = available()[1]
    assert version.startswith("0002")
    await old_schema.execute(sql)  # fails if a repair left a row its constraints refuse
    rows = await old_schema.fetch("SELECT name, venue, starts_at, sale_starts_at FROM events")
    names = {r["name"] for r in rows}
    assert {"bell", "c1", "Caf\u00e9", "untitled"} <= names
    assert {r["venue"] for r in rows} >= {"v" * 200, "tab here"}
    window = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2101, 1, 1, tzinfo=UTC))
    for row in rows:
        for column in ("starts_at", "sale_starts_at"):
            assert row[column] is None or window[0] <= row[column] < window[1], dict(row)
    emails = [r["email"] for r in await old_schema.fetch("SELECT email FROM users")]
    assert "\u00e9@example.com" in emails  # was "e" + COMBINING ACUTE
    assert sum(e.endswith("@repaired.invalid") for e in emails) == 3  # ctl, long, clash
    for values in BAD_EVENTS:
        with pytest.raises(asyncpg.CheckViolationError):
            await _insert(old_schema, "events", _event(vendor, **values))
