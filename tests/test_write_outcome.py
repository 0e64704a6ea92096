"""A gateway write whose answer was lost (issue 15): `503` promises nothing was done, so a
link that dies while the write's COMMIT is in flight — the server may have committed — is
answered `504 outcome_unknown` instead; and an event created with an Idempotency-Key is
created once, however often its vendor retries.

The cut is made at an exact point with the real server: a trigger that sleeps (`pg_sleep`)
either in the INSERT itself or, deferred, inside the COMMIT, and a TCP fault proxy between
the gateway and PostgreSQL that closes the link while the backend sleeps there."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from engine.payments.fake import FakeProvider
from engine.settings import Secret
from engine.types import Role, Strategy
from gateway.keys import payments_key
from tests.conftest import TEST_DATABASE_URL
from tests.factories import Account
from tests.faultproxy import FaultProxy
from tests.helpers import Api, assert_eventually

#: Seconds the trigger sleeps: the window in which the test cuts the link.
_SLEEP = 2


@pytest.fixture
async def db_proxy() -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of the test database."""
    url = urlsplit(TEST_DATABASE_URL)
    async with FaultProxy(url.hostname or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


def _through(proxy: FaultProxy) -> Secret:
    url = urlsplit(TEST_DATABASE_URL)
    netloc = f"{url.username}@127.0.0.1:{proxy.port}" if url.username else \
        f"127.0.0.1:{proxy.port}"
    return Secret(url._replace(netloc=netloc).geturl())


@pytest.fixture
async def sleep_in(db_pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """`await sleep_in("payments", "INSERT", "NEW.user_id = 7")`: a write of such a row
    sleeps in its COMMIT (a deferred constraint trigger) or, with `at_commit=False`, in the
    statement itself (a BEFORE trigger) — for the test to cut the link there."""
    made: list[tuple[str, str]] = []

    async def install(table: str, operation: str, condition: str, *,
                      at_commit: bool = True) -> None:
        fn = f"test_sleep_{uuid.uuid4().hex[:10]}"
        await db_pool.execute(
            f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN PERFORM pg_sleep({_SLEEP}); RETURN coalesce(NEW, OLD); END $$")
        when = (f"CONSTRAINT TRIGGER {fn} AFTER {operation} ON {table}"
                " DEFERRABLE INITIALLY DEFERRED" if at_commit
                else f"TRIGGER {fn} BEFORE {operation} ON {table}")
        await db_pool.execute(f"CREATE {when} FOR EACH ROW WHEN ({condition})"
                              f" EXECUTE FUNCTION {fn}()")
        made.append((table, fn))
    yield install
    for table, fn in made:
        await db_pool.execute(f"DROP TRIGGER {fn} ON {table}")
        await db_pool.execute(f"DROP FUNCTION {fn}()")


@pytest.fixture
async def slow_events(sleep_in: Any) -> str:
    """An event named '<tag> at insert…' sleeps in its INSERT, one named '<tag> at commit…'
    in its COMMIT; the tag."""
    tag = f"slow-{uuid.uuid4().hex[:8]}"
    await sleep_in("events", "INSERT", f"NEW.name LIKE '{tag} at insert%'", at_commit=False)
    await sleep_in("events", "INSERT", f"NEW.name LIKE '{tag} at commit%'")
    return tag


async def _sleeping(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
        " AND datname = current_database() AND pid <> pg_backend_pid()"))


async def _named(pool: asyncpg.Pool, name: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM events WHERE name = $1", name))


async def _create_cut_while_sleeping(api: Api, proxy: FaultProxy, pool: asyncpg.Pool,
                                     name: str, key: str) -> tuple[Account, Any]:
    """POST the event and cut the gateway's link to PostgreSQL while its backend sleeps in
    the trigger; the vendor and the answer."""
    vendor = await api.account(Role.VENDOR)
    request = asyncio.ensure_future(api.call(
        "POST", "/api/events", vendor, json={"name": name, "totalTickets": 10},
        headers={"Idempotency-Key": key}))
    await assert_eventually(lambda: _sleeping(pool), message="the trigger never slept")
    await proxy.cut()
    return vendor, await request


async def test_a_link_cut_while_the_commit_is_in_flight_is_answered_outcome_unknown(
        make_api: Any, db_proxy: FaultProxy, db_pool: asyncpg.Pool, slow_events: str) -> None:
    api: Api = await make_api(database_url=_through(db_proxy), gateway_process_index=1)
    name = f"{slow_events} at commit"
    vendor, reply = await _create_cut_while_sleeping(api, db_proxy, db_pool, name,
                                                     "create-once")
    # Not 503, which would tell the vendor nothing was made: the server did commit.
    assert (reply.status, reply.body["error"]) == (504, "outcome_unknown"), reply.body

    async def committed() -> bool:
        return await _named(db_pool, name) == 1
    await assert_eventually(committed, timeout=3 * _SLEEP,
                            message="the commit the answer was lost for never landed")
    # The vendor retries with the same key: the event the first attempt made, not another.
    again = await api.call("POST", "/api/events", vendor,
                           json={"name": name, "totalTickets": 10},
                           headers={"Idempotency-Key": "create-once"})
    assert again.status == 201, again.body
    assert await _named(db_pool, name) == 1
    made = await db_pool.fetchval("SELECT id FROM events WHERE name = $1", name)
    assert again.body["id"] == made


async def test_a_link_cut_before_the_commit_is_answered_not_done(
        make_api: Any, db_proxy: FaultProxy, db_pool: asyncpg.Pool, slow_events: str) -> None:
    api: Api = await make_api(database_url=_through(db_proxy), gateway_process_index=1)
    name = f"{slow_events} at insert"
    _, reply = await _create_cut_while_sleeping(api, db_proxy, db_pool, name, "create-twice")
    assert (reply.status, reply.body["error"]) == (503, "unavailable"), reply.body

    async def rolled_back() -> bool:  # the backend gone, its transaction with it
        return not await _sleeping(db_pool)
    await assert_eventually(rolled_back, timeout=3 * _SLEEP)
    assert await _named(db_pool, name) == 0  # 503: nothing was done, as it says


# -- Idempotency-Key on POST /api/events -----------------------------------------------

async def _create(api: Api, vendor: Account, key: str | None, **fields: Any) -> Any:
    body = {"name": "Keyed", "totalTickets": 10, **fields}
    return await api.call("POST", "/api/events", vendor, json=body,
                          headers={"Idempotency-Key": key} if key else None)


async def test_a_create_retried_with_its_key_makes_one_event(api: Api,
                                                             db_pool: asyncpg.Pool) -> None:
    vendor = await api.account(Role.VENDOR)
    name = f"keyed {uuid.uuid4().hex[:8]}"
    replies = await asyncio.gather(*(_create(api, vendor, "k1", name=name) for _ in range(5)))
    assert {r.status for r in replies} == {201}
    assert len({r.body["id"] for r in replies}) == 1
    assert replies[0].headers["Location"] == f"/api/events/{replies[0].body['id']}"
    assert await _named(db_pool, name) == 1
    # The same key with other fields is another request: refused, nothing made.
    other = await _create(api, vendor, "k1", name=name, totalTickets=11)
    assert (other.status, other.body["error"]) == (422, "idempotency_key_reused")
    assert await _named(db_pool, name) == 1


async def test_keys_are_per_vendor_and_a_create_without_one_is_never_deduplicated(
        api: Api, db_pool: asyncpg.Pool) -> None:
    first, second = await api.account(Role.VENDOR), await api.account(Role.VENDOR)
    name = f"unkeyed {uuid.uuid4().hex[:8]}"
    mine = await _create(api, first, "same-key", name=name)
    theirs = await _create(api, second, "same-key", name=name)
    assert mine.status == theirs.status == 201
    assert mine.body["id"] != theirs.body["id"]
    for _ in range(2):
        assert (await _create(api, first, None, name=name)).status == 201
    assert await _named(db_pool, name) == 4


async def test_a_bad_key_is_refused_before_anything_is_made(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    reply = await _create(api, vendor, "x" * 201)
    assert reply.status == 422 and reply.body["error"] == "invalid_input", reply.body


# -- every other gateway write: the same honest answer ---------------------------------

async def _cut_at_commit(api: Api, proxy: FaultProxy, pool: asyncpg.Pool, method: str,
                         path: str, account: Account, **request: Any) -> Any:
    """Send the request, cut the gateway's link to PostgreSQL while its COMMIT sleeps, and
    return the answer, which must be `504 outcome_unknown`."""
    call = asyncio.ensure_future(api.call(method, path, account, **request))
    await assert_eventually(lambda: _sleeping(pool), message="the commit never slept")
    await proxy.cut()
    reply = await call
    assert (reply.status, reply.body["error"]) == (504, "outcome_unknown"), reply.body
    return reply


async def test_a_sign_out_whose_commit_answer_was_lost_is_outcome_unknown(
        make_api: Any, db_proxy: FaultProxy, db_pool: asyncpg.Pool,
        sleep_in: Any) -> None:
    api: Api = await make_api(database_url=_through(db_proxy), gateway_process_index=1)
    buyer, everywhere = await api.account(), await api.account()
    await sleep_in("revoked_tokens", "INSERT", f"NEW.user_id = {buyer.id}")
    await sleep_in("users", "UPDATE", f"NEW.id = {everywhere.id}")
    await _cut_at_commit(api, db_proxy, db_pool, "POST", "/api/auth/logout", buyer)

    async def signed_out() -> bool:
        return bool(await db_pool.fetchval(
            "SELECT count(*) FROM revoked_tokens WHERE user_id = $1", buyer.id))
    await assert_eventually(signed_out, timeout=3 * _SLEEP,
                            message="the sign-out the answer was lost for never landed")
    await _cut_at_commit(api, db_proxy, db_pool, "POST", "/api/auth/logout-all", everywhere)

    async def everywhere_out() -> bool:
        return await db_pool.fetchval(
            "SELECT token_version FROM users WHERE id = $1", everywhere.id) == 1
    await assert_eventually(everywhere_out, timeout=3 * _SLEEP)


async def test_a_staff_change_whose_commit_answer_was_lost_is_outcome_unknown(
        make_api: Any, db_proxy: FaultProxy, db_pool: asyncpg.Pool,
        sleep_in: Any) -> None:
    api: Api = await make_api(database_url=_through(db_proxy), gateway_process_index=1)
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor)
    door = await db_pool.fetchrow("INSERT INTO users (email, password_hash, role)"
                                  " VALUES ($1, '!', 'USER') RETURNING id, email",
                                  f"door-{uuid.uuid4().hex[:8]}@example.com")
    await sleep_in("event_staff", "INSERT", f"NEW.event_id = {event['id']}")
    await sleep_in("event_staff", "DELETE", f"OLD.event_id = {event['id']}")
    staff = f"/api/events/{event['id']}/staff"
    await _cut_at_commit(api, db_proxy, db_pool, "POST", staff, vendor,
                         json={"email": door["email"]})
    # The grant landed; granting again says so (200, not a second grant).
    again = await api.call("POST", staff, vendor, json={"email": door["email"]})
    assert again.status == 200, again.body
    await _cut_at_commit(api, db_proxy, db_pool, "DELETE", f"{staff}/{door['id']}", vendor)

    async def revoked() -> bool:
        return not await db_pool.fetchval(
            "SELECT count(*) FROM event_staff WHERE event_id = $1", event["id"])
    await assert_eventually(revoked, timeout=3 * _SLEEP)


@pytest.mark.parametrize("strategy", [Strategy.LOCKED, Strategy.NAIVE])
async def test_a_booking_whose_commit_answer_was_lost_is_outcome_unknown_and_replayed(
        make_api: Any, db_proxy: FaultProxy, db_pool: asyncpg.Pool, sleep_in: Any,
        strategy: Strategy) -> None:
    api: Api = await make_api(database_url=_through(db_proxy), gateway_process_index=1,
                              booking_strategy=strategy, allow_naive=True)
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    await sleep_in("bookings", "INSERT OR UPDATE", f"NEW.user_id = {buyer.id}")
    book = f"/api/events/{event['id']}/book"
    await _cut_at_commit(api, db_proxy, db_pool, "POST", book, buyer, json={"quantity": 2},
                         headers={"Idempotency-Key": "lost-answer"})

    async def booked() -> bool:
        return bool(await db_pool.fetchval(
            "SELECT count(*) FROM bookings WHERE user_id = $1", buyer.id))
    await assert_eventually(booked, timeout=3 * _SLEEP)
    # The buyer retries with the key: the booking that was made, not a second one.
    again = await api.book(buyer, event["id"], 2, key="lost-answer")
    assert (again.status, again.body["status"]) == (201, "confirmed"), again.body
    rows = await db_pool.fetch("SELECT id FROM bookings WHERE user_id = $1", buyer.id)
    assert [str(r["id"]) for r in rows] == [again.body["id"]]
    # Cancelling it, with the answer lost again, is as honest.
    await _cut_at_commit(api, db_proxy, db_pool, "POST",
                         f"/api/bookings/{again.body['id']}/cancel", buyer)

    async def cancelled() -> bool:
        return await db_pool.fetchval(
            "SELECT status FROM bookings WHERE user_id = $1", buyer.id) == "cancelled"
    await assert_eventually(cancelled, timeout=3 * _SLEEP)


async def test_a_payment_attempt_whose_commit_answer_was_lost_charges_nothing_twice(
        make_api: Any, db_proxy: FaultProxy, db_pool: asyncpg.Pool,
        sleep_in: Any) -> None:
    api: Api = await make_api(database_url=_through(db_proxy), gateway_process_index=1)
    event = await api.event(totalTickets=2, priceCents=700, currency="JPY", holdSeconds=60)
    buyer = await api.account()
    held = await api.book(buyer, event["id"], 1)
    assert held.body["status"] == "held", held.body
    await sleep_in("payments", "INSERT", f"NEW.user_id = {buyer.id}")
    pay = f"/api/bookings/{held.body['id']}/pay"
    await _cut_at_commit(api, db_proxy, db_pool, "POST", pay, buyer,
                         json={"paymentToken": "tok_ok"}, headers={"Idempotency-Key": "p1"})

    async def recorded() -> bool:
        return bool(await db_pool.fetchval(
            "SELECT count(*) FROM payments WHERE user_id = $1", buyer.id))
    await assert_eventually(recorded, timeout=3 * _SLEEP)
    # The attempt was recorded, the charge never made; the retry finds that attempt (no
    # second one, no charge) and answers it pending: recovery settles it with the provider.
    again = await api.call("POST", pay, buyer, json={"paymentToken": "tok_ok"},
                           headers={"Idempotency-Key": "p1"})
    assert again.status == 202, again.body
    assert [r["status"] for r in await db_pool.fetch(
        "SELECT status FROM payments WHERE user_id = $1", buyer.id)] == ["charging"]
    provider = api.app[payments_key]
    assert isinstance(provider, FakeProvider)
    assert not provider.charges
