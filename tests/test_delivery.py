"""What a buyer is told when the link to the broker fails mid-publish, or the gateway's link
to its database on the slow path — never "failed" for a booking that may go through — and when
the gateway or a shard is full: refused at once, with nothing done. A TCP fault proxy sits
between the gateway and the real RabbitMQ (or PostgreSQL); the session's shard worker connects
directly, so decisions go on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest
from yarl import URL

from engine.settings import Secret, Settings
from engine.transport.base import shard_for
from engine.transport.inproc import InprocTransport
from engine.types import Role
from gateway.app import create_app
from gateway.keys import service_key, transport_key
from tests.conftest import TEST_AMQP_URL, TEST_DATABASE_URL
from tests.faultproxy import FaultProxy
from tests.faults.checks import surge, verify
from tests.helpers import Api, assert_eventually, blocked_on_an_event_row
from tests.worker import ShardWorker

pytestmark = pytest.mark.slow


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of the test broker."""
    async with FaultProxy("127.0.0.1", 5672) as p:
        yield p


@pytest.fixture
async def via_proxy(proxy: FaultProxy, shard_worker: ShardWorker, aiohttp_client: Any,
                    make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """Build a gateway whose broker connection goes through the proxy."""

    async def make(**overrides: Any) -> Api:
        url = TEST_AMQP_URL.replace(":5672/", f":{proxy.port}/")
        assert url != TEST_AMQP_URL
        settings = make_settings(amqp_url=Secret(url), coalesce_ms=0, **overrides)
        app = create_app(settings)
        return Api(await aiohttp_client(app), app, shard_worker)
    return make


async def _status(api: Api, booking_id: str) -> tuple[str | None, str | None]:
    row = await api.pool.fetchrow("SELECT status, reason FROM bookings WHERE id = $1",
                                  booking_id)
    return (None, None) if row is None else (row["status"], row["reason"])


async def test_a_lost_confirm_answers_202_and_the_booking_is_decided(
        proxy: FaultProxy, via_proxy: Callable[..., Any]) -> None:
    api = await via_proxy(publish_timeout_seconds=1.0)
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    proxy.stall("down")  # the publish reaches the broker; its confirm never comes back
    reply = await api.book(buyer, event["id"], 1)
    # The broker kept it and a shard decides it: "503, try again" would be a lie.
    assert reply.status == 202, reply.body
    booking_id = reply.body["id"]
    assert reply.headers["Location"] == f"/api/bookings/{booking_id}"

    async def confirmed() -> bool:
        return await _status(api, booking_id) == ("confirmed", None)

    await assert_eventually(confirmed, message="the unconfirmed booking was not decided")
    proxy.heal()
    seen = await api.call("GET", f"/api/bookings/{booking_id}", buyer)
    assert (seen.status, seen.body["status"]) == (200, "confirmed")
    # The gateway re-sent it once the link healed; the actor decided the id once.
    await api.drain()
    assert await api.pool.fetchval(
        "SELECT count(*) FROM bookings WHERE user_id = $1", buyer.id) == 1
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event["id"]) == 1


async def test_a_connection_given_up_mid_publish_answers_202_and_the_booking_is_decided(
        proxy: FaultProxy, shard_worker: ShardWorker, aiohttp_client: Any,
        make_settings: Callable[..., Settings]) -> None:
    # Heartbeats of 1 s: the client declares the silent link dead after 3 s, long before the
    # publish's own timeout, and closes it with the confirm still awaited. The broker client
    # cancels that wait; the cancellation once reached the request (the buyer got a dropped
    # connection) and the re-send that would have delivered it (the booking was never
    # decided, nor recorded lost) — a cut RabbitMQ node lost a hundred 202s that way.
    url = TEST_AMQP_URL.replace(":5672/", f":{proxy.port}/") + "?heartbeat=1"
    settings = make_settings(amqp_url=Secret(url), coalesce_ms=0,
                             publish_timeout_seconds=30.0, lost_after_seconds=60.0)
    app = create_app(settings)
    api = Api(await aiohttp_client(app), app, shard_worker)
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    proxy.stall("both")
    reply = await api.book(buyer, event["id"], 1)
    assert reply.status == 202, reply.body
    booking_id = reply.body["id"]
    proxy.heal()

    async def confirmed() -> bool:
        return await _status(api, booking_id) == ("confirmed", None)

    await assert_eventually(confirmed, timeout=30,
                            message="the booking given up mid-publish was never decided")


async def test_a_booking_never_delivered_is_recorded_lost_and_stays_lost(
        proxy: FaultProxy, via_proxy: Callable[..., Any]) -> None:
    api = await via_proxy(publish_timeout_seconds=0.5, lost_after_seconds=2.0)
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    proxy.stall("up")  # nothing the gateway publishes reaches the broker
    reply = await api.book(buyer, event["id"], 1, key="never-arrives")
    assert reply.status == 202, reply.body
    booking_id = reply.body["id"]

    async def lost() -> bool:
        return await _status(api, booking_id) == ("rejected", "lost")

    await assert_eventually(lost, message="the undelivered booking was never recorded lost")
    retry = await api.book(buyer, event["id"], 1, key="never-arrives")
    assert (retry.status, retry.body["error"]) == (409, "lost")
    assert retry.body["booking"]["id"] == booking_id
    # The link heals: every stalled copy of the command now reaches the shard, late. A
    # booking published after them on the same channel, for the same event (so the same
    # queue), is decided after them: its 201 is the barrier.
    proxy.heal()
    later = await api.book(buyer, event["id"], 1)
    assert later.status == 201, later.body
    await api.drain()
    assert await _status(api, booking_id) == ("rejected", "lost")
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event["id"]) == 1


async def test_past_its_bound_the_gateway_refuses_before_any_side_effect(
        proxy: FaultProxy, via_proxy: Callable[..., Any]) -> None:
    api = await via_proxy(publish_timeout_seconds=30.0, max_requests_in_flight=2)
    event = await api.event(totalTickets=5)
    buyers = await api.accounts(3)
    service = api.app[service_key]
    proxy.stall("down")  # publishes wait for confirms: two requests stay in flight
    held = [asyncio.create_task(api.book(b, event["id"], 1)) for b in buyers[:2]]

    async def two_in_flight() -> bool:
        return service.in_flight == 2

    await assert_eventually(two_in_flight, message="the two requests never got in flight")
    refused = await api.book(buyers[2], event["id"], 1, key="refused-at-the-door")
    assert (refused.status, refused.body["error"]) == (503, "unavailable")
    assert int(refused.headers["Retry-After"]) >= 1
    # Refused at the door: before its token is checked or its body read (a token that would
    # be refused with 401 hears 503 too), so refusing costs the accepted requests little.
    door = await api.call("POST", f"/api/events/{event['id']}/book",
                          headers={"Authorization": "Bearer not-a-token"}, data=b"{not json")
    assert (door.status, door.body["error"]) == (503, "unavailable")
    # 503 means not done: nothing was recorded for it, and its key is free.
    assert await api.pool.fetchval(
        "SELECT count(*) FROM idempotency_keys WHERE user_id = $1", buyers[2].id) == 0
    proxy.heal()
    assert [r.status for r in await asyncio.gather(*held)] == [201, 201]
    assert (await api.book(buyers[2], event["id"], 1, key="refused-at-the-door")).status == 201


async def test_a_pending_join_learns_its_outcome_by_joining_again(
        proxy: FaultProxy, via_proxy: Callable[..., Any]) -> None:
    # A 202 to a join named its command's id as the place to ask; when that join was never
    # delivered, or turned out to be the account's second, nothing ever had that id, and
    # the client asked it for 404 until the end (106 buyers of one full-size queue-rush).
    api = await via_proxy(publish_timeout_seconds=1.0)
    opens = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    room = await api.event(totalTickets=5, saleStartsAt=opens, waitingRoom={"enabled": True})
    buyer = await api.account()
    join = f"/api/events/{room['id']}/queue"
    proxy.stall("down")  # the join reaches its actor; the confirm and answer do not come back
    pending = await api.call("POST", join, buyer)
    assert (pending.status, pending.body["status"]) == (202, "pending"), pending.body
    assert pending.headers["Location"] == join
    proxy.heal()

    async def decided() -> bool:
        return await api.pool.fetchval(
            "SELECT count(*) FROM queue_entries WHERE user_id = $1", buyer.id) == 1

    await assert_eventually(decided, message="the pending join was never decided")
    again = await api.call("POST", pending.headers["Location"], buyer)
    # The entry the first join made, not a second one.
    assert (again.status, again.body["status"]) == (200, "prequeue"), again.body
    assert again.body["queueId"] == await api.pool.fetchval(
        "SELECT id::text FROM queue_entries WHERE user_id = $1", buyer.id)
    seen = await api.call("GET", f"/api/queue/{again.body['queueId']}", buyer)
    assert (seen.status, seen.body["status"]) == (200, "prequeue")


async def test_waiting_room_joins_have_a_bound_of_their_own(
        proxy: FaultProxy, via_proxy: Callable[..., Any]) -> None:
    # Under the bookings' bound a rush of joins met 503 from the 65th in flight on, and
    # the retries cost more than the joins: joins are bounded apart, and more widely.
    api = await via_proxy(publish_timeout_seconds=30.0, max_requests_in_flight=1,
                          max_joins_in_flight=2)
    plain = await api.event(totalTickets=5)
    opens = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    room = await api.event(totalTickets=5, saleStartsAt=opens, waitingRoom={"enabled": True})
    buyers = await api.accounts(4)
    service = api.app[service_key]
    proxy.stall("down")  # publishes wait for confirms: requests stay in flight
    held = [asyncio.create_task(api.book(buyers[0], plain["id"], 1))]
    async def in_flight(bookings: int, joins: int) -> bool:
        return (service.in_flight, service.joins_in_flight) == (bookings, joins)

    await assert_eventually(partial(in_flight, 1, 0), message="the booking never got in flight")
    # The booking bound is full, yet joins are taken, up to their own bound.
    held += [asyncio.create_task(api.call("POST", f"/api/events/{room['id']}/queue", b))
             for b in buyers[1:3]]
    await assert_eventually(partial(in_flight, 1, 2), message="the joins never got in flight")
    refused = await api.call("POST", f"/api/events/{room['id']}/queue", buyers[3])
    assert (refused.status, refused.body["error"]) == (503, "unavailable")
    proxy.heal()
    assert [r.status for r in await asyncio.gather(*held)] == [201, 201, 201]
    assert (await api.call("POST", f"/api/events/{room['id']}/queue", buyers[3])).status == 201


async def test_a_full_shard_mailbox_refuses_at_once(make_api: Callable[..., Any]) -> None:
    api = await make_api(shard_backlog=2)
    event = await api.event(totalTickets=50)
    buyers = await api.accounts(4)
    transport = api.app[transport_key]
    assert isinstance(transport, InprocTransport)
    shard = shard_for(event["id"], transport.runtime.shards)
    async with api.pool.acquire() as conn, conn.transaction():
        # Hold the event's row: the actor's first batch waits on it, the next ones queue.
        await conn.execute("SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event["id"])
        queued = [asyncio.create_task(api.book(buyers[0], event["id"], 1))]

        # The first batch in flight before the next two arrive: an actor takes its whole
        # mailbox as one batch, so two arriving with the first would leave none waiting.
        await assert_eventually(partial(blocked_on_an_event_row, api.pool),
                                message="the first booking never reached its actor")
        queued += [asyncio.create_task(api.book(b, event["id"], 1)) for b in buyers[1:3]]

        async def mailbox_full() -> bool:
            return transport.runtime.backlog(shard) == 2

        await assert_eventually(mailbox_full, message="the shard's mailbox never filled")
        refused = await api.book(buyers[3], event["id"], 1)
        assert (refused.status, refused.body["error"]) == (503, "unavailable")
        assert int(refused.headers["Retry-After"]) >= 1
    assert [r.status for r in await asyncio.gather(*queued)] == [201, 201, 201]
    assert await api.pool.fetchval(
        "SELECT count(*) FROM bookings WHERE user_id = $1", buyers[3].id) == 0


async def test_cutting_the_broker_link_mid_surge_leaves_every_answer_true(
        proxy: FaultProxy, via_proxy: Callable[..., Any]) -> None:
    api = await via_proxy(publish_timeout_seconds=2.0)
    events = [(await api.event(totalTickets=40))["id"] for _ in range(3)]
    buyers = await api.accounts(150)
    started = asyncio.Event()
    selling = asyncio.create_task(surge(api, buyers, events, 300, concurrency=32,
                                        started=started, after=60))
    await started.wait()
    await proxy.cut()  # every connection to the broker dropped while seats are selling
    replies = await selling
    assert {r.status for r in replies} <= {201, 202, 409, 422, 503}  # never a 500
    assert sum(r.status == 201 for r in replies) > 0
    # Every 201 durable, every 202 decided once, no booking behind any 503, I1-I6.
    await verify(api, replies, events)


async def test_a_gateway_that_missed_broadcasts_never_answers_sold_out_from_memory(
        proxy: FaultProxy, via_proxy: Callable[..., Any], aiohttp_client: Any,
        make_settings: Callable[..., Settings]) -> None:
    api = await via_proxy()
    other_app = create_app(make_settings(amqp_url=Secret(TEST_AMQP_URL)))
    other = Api(await aiohttp_client(other_app), other_app)  # a second gateway, not cut
    vendor = await api.account(Role.VENDOR)
    event = (await api.event(vendor, totalTickets=1))["id"]
    first, second = await api.accounts(2)
    assert (await api.book(first, event, 1)).status == 201
    await api.drain()
    assert api.app[service_key].stock.get(event) == 0  # sold out, as this gateway heard

    proxy.stall()
    await proxy.cut()  # the link drops, and its reconnection hangs meanwhile...
    edit = await other.call("PATCH", f"/api/events/{event}", vendor,
                            json={"totalTickets": 2})
    assert edit.status == 200  # ...so this edit's broadcast (1 seat left) never reaches it
    proxy.heal()
    await assert_eventually(api.transport_healthy, timeout=30)

    # Not a "sold out" from a stale view. A 503 is an honest answer a buyer retries with the
    # same key: in CI the healed link dropped once more after it had been reported healthy.
    async def booked() -> bool:
        again = await api.book(second, event, 1, key="after-the-outage")
        assert again.status in (201, 503), again.body
        return again.status == 201
    await assert_eventually(booked, timeout=30, interval=0.5,
                            message="the seat was never booked")


@pytest.fixture
async def pg_proxy() -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of the test database."""
    async with FaultProxy("127.0.0.1", 5432) as p:
        yield p


@pytest.fixture
async def via_pg_proxy(pg_proxy: FaultProxy, shard_worker: ShardWorker, aiohttp_client: Any,
                       make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """Build a gateway that reaches PostgreSQL through the proxy; the shard worker reaches
    it directly, so decisions go on."""

    async def make(**overrides: Any) -> Api:
        url = str(URL(TEST_DATABASE_URL).with_port(pg_proxy.port))
        settings = make_settings(database_url=Secret(url), amqp_url=Secret(TEST_AMQP_URL),
                                 **overrides)
        app = create_app(settings)
        return Api(await aiohttp_client(app), app, shard_worker)
    return make


async def test_a_booking_the_broker_kept_is_answered_202_when_the_gateway_loses_its_database(
        pg_proxy: FaultProxy, via_pg_proxy: Callable[..., Any], shard_worker: ShardWorker,
        db_pool: asyncpg.Pool) -> None:
    api = await via_pg_proxy(booking_wait_seconds=1.0)
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    async with db_pool.acquire() as conn, conn.transaction():
        # Hold the event's row: the broker confirms the command, its actor cannot decide it
        # yet, so the gateway's wait ends undecided and it takes the slow path (its trace).
        await conn.execute("SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event["id"])
        booking = asyncio.create_task(api.book(buyer, event["id"], 1, key="kept-then-cut-off"))
        await assert_eventually(partial(blocked_on_an_event_row, db_pool),
                                message="the booking never reached its actor")
        await pg_proxy.down()  # the gateway's database is gone before it can write the trace
        reply = await booking
    pg_proxy.heal()
    # The command is in the broker and its shard decides it: "503, not done" would be a lie.
    assert reply.status == 202, reply.body
    await shard_worker.drain()
    decided = await db_pool.fetch("SELECT id, status FROM bookings WHERE user_id = $1",
                                  buyer.id)
    assert [(str(r["id"]), r["status"]) for r in decided] == [(reply.body["id"], "confirmed")]
    # Its owner reads the booking it was told about, and a retry with the key replays it.
    seen = await api.call("GET", f"/api/bookings/{reply.body['id']}", buyer)
    assert (seen.status, seen.body["status"]) == (200, "confirmed")
    retry = await api.book(buyer, event["id"], 1, key="kept-then-cut-off")
    assert (retry.status, retry.body["id"]) == (201, reply.body["id"])


async def test_a_silent_database_answers_reads_503_within_the_bound_and_200_once_healed(
        pg_proxy: FaultProxy, via_pg_proxy: Callable[..., Any]) -> None:
    # A stalled link drops nothing and resets nothing: without a bound of its own a read
    # waits for asyncpg's 30 s command timeout, and the client hears nothing meanwhile.
    api = await via_pg_proxy(db_request_timeout_seconds=1.0)
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    booked = await api.book(buyer, event["id"], 1)
    assert booked.status == 201, booked.body
    credentials = {"email": "silent-db@example.com", "password": "a long enough passphrase"}
    assert (await api.call("POST", "/api/auth/register", json=credentials)).status == 201
    reads = [("GET", f"/api/bookings/{booked.body['id']}", buyer, None),
             ("GET", "/api/me/tickets", buyer, None),
             ("POST", "/api/auth/login", None, credentials)]

    pg_proxy.stall("both")  # the host is cut: packets go nowhere, nothing is refused
    try:
        for method, path, account, body in reads:
            # Well below the 30 s: the call fails the test if it is not answered in 10 s.
            async with asyncio.timeout(10):
                reply = await api.call(method, path, account, json=body)
            assert (reply.status, reply.body["error"]) == (503, "database_timeout"), path
            assert int(reply.headers["Retry-After"]) >= 1
    finally:
        pg_proxy.heal()  # else the app's teardown waits on the stalled pool
    for method, path, account, body in reads:
        reply = await api.call(method, path, account, json=body)
        assert reply.status == 200, (path, reply.body)
