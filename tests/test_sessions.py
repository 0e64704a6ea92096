"""Revocable sessions, over HTTP against two gateways on one database: a revocation made
anywhere reaches the other gateway's in-memory view by the database's push, within seconds,
and a revoked token is refused before anything else happens."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from engine import accounts
from engine.storage.invariants import check_invariants
from engine.types import Role
from gateway.keys import session_feed_key
from tests.factories import PASSWORD, Account
from tests.helpers import Api, assert_eventually

#: How long a revocation may take to reach another gateway in these tests. The push takes
#: milliseconds; the bound only stops a broken push from hanging the suite.
WITHIN = 5.0


async def _two_gateways(make_api: Callable[..., Any]) -> tuple[Api, Api]:
    return await make_api(), await make_api()


async def _refused(api: Api, account: Account) -> bool:
    reply = await api.call("GET", "/api/me/tickets", account)
    if reply.status == 200:
        return False
    assert (reply.status, reply.body["error"]) == (401, "session_revoked"), reply.body
    return True


async def _eventually_refused(api: Api, account: Account) -> None:
    async def check() -> bool:
        return await _refused(api, account)
    await assert_eventually(check, timeout=WITHIN, message="the revocation never arrived")


async def _register(api: Api, password: str = "first password") -> str:
    email = f"s-{uuid.uuid4().hex[:10]}@test.example"
    reply = await api.call("POST", "/api/auth/register",
                           json={"email": email, "password": password})
    assert reply.status == 201, reply.body
    return email


async def _login(api: Api, email: str, password: str = "first password") -> Account:
    reply = await api.call("POST", "/api/auth/login", json={"email": email, "password": password})
    assert reply.status == 200, reply.body
    return Account(reply.body["user"]["id"], email, Role(reply.body["user"]["role"]),
                   reply.body["token"])


async def test_a_demoted_vendor_is_refused_on_every_gateway(make_api: Callable[..., Any]) -> None:
    a, b = await _two_gateways(make_api)
    vendor = await a.account(Role.VENDOR)
    await b.event(vendor)  # b now holds the vendor's version in memory

    user, created = await accounts.add_user(a.pool, vendor.email, None, Role.USER)
    assert (created, user.role) == (False, Role.USER)

    await _eventually_refused(b, vendor)
    create = await b.call("POST", "/api/events", vendor,
                          json={"name": "After demotion", "totalTickets": 5})
    assert (create.status, create.body["error"]) == (401, "session_revoked")
    await _eventually_refused(a, vendor)  # pushed to every gateway, not read
    assert not await a.pool.fetchval(
        "SELECT count(*) FROM events WHERE vendor_id = $1 AND name = 'After demotion'",
        vendor.id)
    # Signing in again gives a token of the role the account has now.
    again = await _login(b, vendor.email, PASSWORD)
    assert again.role is Role.USER
    assert (await b.call("GET", "/api/me/tickets", again)).status == 200


async def test_a_password_change_ends_the_old_sessions(make_api: Callable[..., Any]) -> None:
    a, b = await _two_gateways(make_api)
    email = await _register(a)
    old = await _login(a, email)
    assert (await b.call("GET", "/api/me/tickets", old)).status == 200

    assert await accounts.set_password(a.pool, email, "second password") is not None

    await _eventually_refused(b, old)
    await _eventually_refused(a, old)  # pushed to every gateway, not read
    stale = await b.call("POST", "/api/auth/login",
                         json={"email": email, "password": "first password"})
    assert (stale.status, stale.body["error"]) == (401, "invalid_credentials")
    new = await _login(b, email, "second password")
    assert (await a.call("GET", "/api/me/tickets", new)).status == 200


async def test_a_removed_buyer_is_refused_before_booking(make_api: Callable[..., Any]) -> None:
    a, b = await _two_gateways(make_api)
    buyer = await a.account()
    event = await a.event(totalTickets=10)
    booked = await b.book(buyer, event["id"], 2)
    assert booked.status == 201, booked.body

    removed = await accounts.remove_user(a.pool, buyer.email)
    assert removed is not None and removed.email.endswith("@removed.invalid")

    for gateway in (a, b):  # pushed to every gateway, not read
        await _eventually_refused(gateway, buyer)
    for gateway in (a, b):
        reply = await gateway.book(buyer, event["id"], 1, key=f"after-{uuid.uuid4()}")
        assert (reply.status, reply.body["error"]) == (401, "session_revoked")
    await a.drain()
    # Nothing reached a shard; what the buyer held stays, as the ledger needs it.
    assert await a.pool.fetchval(
        "SELECT count(*) FROM bookings WHERE user_id = $1", buyer.id) == 1
    assert await a.pool.fetchval(
        "SELECT count(*) FROM tickets WHERE user_id = $1", buyer.id) == 2
    assert (await check_invariants(a.pool, [event["id"]])).ok
    login = await a.call("POST", "/api/auth/login",
                         json={"email": buyer.email, "password": PASSWORD})
    assert login.status == 401


async def test_a_user_deleted_by_hand_is_refused_not_a_500(
        make_api: Callable[..., Any]) -> None:
    a, b = await _two_gateways(make_api)
    buyer = await a.account()
    event = await a.event(totalTickets=10)
    assert (await b.call("GET", "/api/me/tickets", buyer)).status == 200

    # An operator in psql, not the engine: the row is gone (the buyer had no bookings).
    await a.pool.execute("DELETE FROM users WHERE id = $1", buyer.id)

    for gateway in (a, b):
        await _eventually_refused(gateway, buyer)
    for gateway in (a, b):  # they heard the deletion
        reply = await gateway.book(buyer, event["id"], 1)
        assert (reply.status, reply.body["error"]) == (401, "session_revoked")
    # A gateway started after the deletion never heard of it (it holds only users whose
    # version is not 0: docs/design.md, Sessions); the booking still ends in a definite
    # refusal — the actor cannot write it — never a 500 and never a booking.
    fresh = await make_api()
    late = await fresh.book(buyer, event["id"], 1)
    assert 400 <= late.status < 500, late.body
    await a.drain()
    assert await a.pool.fetchval(
        "SELECT count(*) FROM bookings WHERE event_id = $1", event["id"]) == 0


async def _two_sessions_seen_on_two_gateways(
        make_api: Callable[..., Any]) -> tuple[Api, Api, str, Account, Account]:
    """Gateways a and b; one user signed in twice (a phone and a laptop), both tokens
    already admitted by b, so b holds the user in memory."""
    a, b = await _two_gateways(make_api)
    email = await _register(a)
    phone, laptop = await _login(a, email), await _login(a, email)
    for token in (phone, laptop):
        assert (await b.call("GET", "/api/me/tickets", token)).status == 200
    return a, b, email, phone, laptop


async def test_logout_ends_this_session_only(make_api: Callable[..., Any]) -> None:
    a, b, _, phone, laptop = await _two_sessions_seen_on_two_gateways(make_api)

    assert (await a.call("POST", "/api/auth/logout", phone)).status == 204

    assert await _refused(a, phone)  # at once where it was asked
    await _eventually_refused(b, phone)
    for gateway in (a, b):
        assert (await gateway.call("GET", "/api/me/tickets", laptop)).status == 200
    assert (await a.call("POST", "/api/auth/logout")).status == 401


async def test_logout_all_ends_every_session(make_api: Callable[..., Any]) -> None:
    a, b, email, phone, laptop = await _two_sessions_seen_on_two_gateways(make_api)

    assert (await a.call("POST", "/api/auth/logout-all", laptop)).status == 204

    for token in (phone, laptop):
        assert await _refused(a, token)
        await _eventually_refused(b, token)
    # A token issued after it is newer than anything revoked, on any gateway.
    again = await _login(a, email)
    fresh = await make_api()
    for gateway in (a, b, fresh):
        assert (await gateway.call("GET", "/api/me/tickets", again)).status == 200


async def test_the_check_reads_memory_and_re_reads_after_the_feed_reconnects(
        make_api: Callable[..., Any], db_pool: asyncpg.Pool) -> None:
    api = await make_api()
    buyer = await api.account()

    # Revoke behind the feed's back: with triggers off nothing is announced, and the
    # gateway, reading only memory, still admits the token.
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "UPDATE users SET token_version = token_version + 1 WHERE id = $1", buyer.id)
    assert (await api.call("GET", "/api/me/tickets", buyer)).status == 200

    # The feed's connection dies (as in a database restart); on reconnecting it reads
    # again what it may have missed.
    feed = api.app[session_feed_key]
    pid = feed.server_pid
    assert pid is not None
    assert await db_pool.fetchval("SELECT pg_terminate_backend($1)", pid)
    await _eventually_refused(api, buyer)

    async def listening_again() -> bool:
        return feed.server_pid not in (None, pid)
    await assert_eventually(listening_again, timeout=WITHIN)
