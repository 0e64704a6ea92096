"""`/api/stream`: live seats for everyone, booking updates only for their owner."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from engine.messages import BookCommand, Command, WakeCommand
from engine.runtime import ShardActor
from engine.settings import Secret
from engine.storage.shard_store import PgShardStore
from engine.transport.base import Envelope
from engine.types import BookingStatus, Role, Strategy, utcnow
from gateway.app import create_app
from gateway.keys import settings_key, transport_key
from tests.conftest import TEST_AMQP_URL
from tests.helpers import Api, assert_eventually
from tests.test_actor import RecordingOutlet


async def _next_events(resp: Any, count: int,
                       max_lines: int = 50) -> list[tuple[str, dict[str, Any]]]:
    """Read SSE frames until `count` events have arrived, within `max_lines` lines (the
    caller bounds the time)."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = None
    for _ in range(max_lines):
        raw = await resp.content.readline()
        # At end of stream readline returns at once: without this the loop would spin.
        assert raw, f"the stream ended after {events}"
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: ") and name:
            events.append((name, orjson.loads(line[len("data: "):])))
            name = None
            if len(events) == count:
                return events
    raise AssertionError(f"{count} events not within {max_lines} lines: got {events}")


@pytest.mark.both_transports
@pytest.mark.parametrize("strategy", ["queued", "locked"])
async def test_stream_pushes_stock_and_own_bookings(make_api: Any, strategy: str) -> None:
    api: Api = await make_api(booking_strategy=Strategy(strategy))
    event = await api.event(totalTickets=3)
    buyer, stranger = await api.accounts(2)
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={ticket}") as mine, \
            api.client.get("/api/stream", headers=stranger.headers) as theirs:
        assert mine.status == 200
        assert mine.headers["Content-Type"].startswith("text/event-stream")
        assert (await mine.content.readline()).startswith(b"retry:")
        reply = await api.book(buyer, event["id"], 2)
        assert reply.status == 201
        async with asyncio.timeout(5):
            got = await _next_events(mine, 2)
            seen_by_stranger = await _next_events(theirs, 1)
    kinds = dict(got)
    assert kinds["booking"]["id"] == reply.body["id"]
    assert kinds["booking"]["status"] == "confirmed"
    stock = {"eventId": event["id"], "availableTickets": 1}
    if strategy == "queued":  # the owning actor counts bookings; a per-request one cannot
        epoch = kinds["stock"]["bookingsEpoch"]
        stock |= {"bookings": 1, "bookingsEpoch": epoch}
    assert kinds["stock"] == stock
    # The stranger sees the seats go, not the buyer's booking.
    assert seen_by_stranger == [("stock", stock)]


@pytest.mark.both_transports
async def test_stock_frames_count_bookings_and_the_event_read_starts_the_count(
        api: Api) -> None:
    # The organizer's chart draws bookings per second from this running count: a booking of
    # two seats is one; the event read says where the count stands; an edit reloads the
    # event in its actor, which counts again from 0 under a new epoch.
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=10)
    path = f"/api/events/{event['id']}"
    assert "bookings" not in (await api.call("GET", path)).body  # none heard yet
    buyer = await api.account()
    async with api.client.get("/api/stream") as stream:  # stock frames only
        await stream.content.readline()  # retry:
        assert (await api.book(buyer, event["id"], 2)).status == 201
        async with asyncio.timeout(5):
            [(_, first)] = await _next_events(stream, 1)
        assert (first["availableTickets"], first["bookings"]) == (8, 1)
        assert (await api.book(buyer, event["id"], 3)).status == 201
        async with asyncio.timeout(5):
            [(_, second)] = await _next_events(stream, 1)
        assert (second["availableTickets"], second["bookings"], second["bookingsEpoch"]) \
            == (5, 2, first["bookingsEpoch"])
        read = (await api.call("GET", path)).body
        assert (read["bookings"], read["bookingsEpoch"]) == (2, first["bookingsEpoch"])
        assert (await api.call("PATCH", path, vendor, json={"name": "Renamed"})).status == 200
        assert (await api.book(buyer, event["id"], 1)).status == 201
        async with asyncio.timeout(5):
            frames = await _next_events(stream, 1)
            while "bookingsEpoch" not in frames[-1][1] or frames[-1][1]["availableTickets"] > 4:
                frames += await _next_events(stream, 1)  # the edit's own, seats only
        assert frames[-1][1]["bookings"] == 1
        assert frames[-1][1]["bookingsEpoch"] > first["bookingsEpoch"]


async def test_stream_refuses_a_bad_ticket(api: Api) -> None:
    reply = await api.call("GET", "/api/stream?ticket=not-a-ticket")
    assert (reply.status, reply.body["error"]) == (401, "unauthenticated")


async def test_the_access_token_never_opens_a_stream_from_the_url(api: Api) -> None:
    # Issue 10, finding 6: the token travelled in the stream's URL, where logs and history
    # keep it. Now neither `?token=` nor the token passed off as a ticket is a credential.
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    reply = await api.call("GET", f"/api/stream?ticket={buyer.token}")
    assert (reply.status, reply.body["error"]) == (401, "unauthenticated")
    async with api.client.get(f"/api/stream?token={buyer.token}") as anonymous:
        assert anonymous.status == 200
        assert (await anonymous.content.readline()).startswith(b"retry:")
        assert (await api.book(buyer, event["id"])).status == 201
        async with asyncio.timeout(5):
            [(kind, frame)] = await _next_events(anonymous, 1)
    assert (kind, frame["eventId"], frame["availableTickets"]) == ("stock", event["id"], 4)


async def test_a_stream_ticket_is_good_for_nothing_else(api: Api) -> None:
    buyer = await api.account()
    reply = await api.call("POST", "/api/stream/ticket", buyer)
    assert reply.status == 200 and 0 < reply.body["expiresIn"] <= 60
    as_token = {"Authorization": f"Bearer {reply.body['ticket']}"}
    refused = await api.call("GET", "/api/me/tickets", headers=as_token)
    assert (refused.status, refused.body["error"]) == (401, "unauthenticated")
    assert (await api.call("POST", "/api/stream/ticket")).status == 401


async def test_a_ticket_dies_with_its_session(api: Api) -> None:
    buyer = await api.account()
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    assert (await api.call("POST", "/api/auth/logout", buyer)).status == 204
    reply = await api.call("GET", f"/api/stream?ticket={ticket}")
    assert reply.status == 401, reply.body


async def test_a_ticket_opens_one_stream_on_a_process(api: Api) -> None:
    """Replayed from a log or a proxy within its 30 s, a used ticket opens nothing more on
    the process that took it (another gateway process would still take it once)."""
    buyer = await api.account()
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={ticket}") as first:
        assert first.status == 200
        async with api.client.get(f"/api/stream?ticket={ticket}") as replay:
            assert replay.status == 401  # (a stream's body would never end: status only)
            assert (await replay.json())["error"] == "unauthenticated"
    fresh = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={fresh}") as again:
        assert again.status == 200


async def _next_booking(stream: Any) -> dict[str, Any]:
    """The next `booking` frame, past any stock frames (which a drain's mark may add over
    RabbitMQ; the caller bounds the time)."""
    while True:
        [(kind, data)] = await _next_events(stream, 1)
        if kind == "booking":
            return data


async def _booked_behind_a_lock(api: Api, pool: Any, buyer: Any, event_id: int) -> str:
    """Book while the event's row is held: the actor cannot commit, so the gateway's wait
    ends in a `202` and the decision comes back after it, awaited by no request."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event_id)
        reply = await api.book(buyer, event_id, 1)
        assert reply.status == 202, reply.body
    return str(reply.body["id"])


async def test_a_decision_after_a_202_reaches_the_owners_stream_on_another_gateway(
        shard_worker: Any, aiohttp_client: Any, make_settings: Any, db_pool: Any) -> None:
    # With GATEWAY_PROCESSES the kernel spreads connections over the processes: the
    # buyer's stream is as likely on another process as on the one that took the booking,
    # and the outcome comes back only to the one that sent the command.
    async def gateway(**overrides: Any) -> Api:
        app = create_app(make_settings(amqp_url=Secret(TEST_AMQP_URL), **overrides))
        return Api(await aiohttp_client(app), app, shard_worker)

    taker, other = await gateway(booking_wait_seconds=0.2), await gateway()
    event = (await taker.event(totalTickets=5))["id"]
    buyer = await taker.account()
    ticket = (await other.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with other.client.get(f"/api/stream?ticket={ticket}") as stream:
        assert (await stream.content.readline()).startswith(b"retry:")
        late = await _booked_behind_a_lock(taker, db_pool, buyer, event)
        async with asyncio.timeout(10):
            pushed = await _next_booking(stream)
        assert (pushed["id"], pushed["status"]) == (late, "confirmed")
        # A booking answered in its own request is not relayed (the hot path stays one
        # message each way): the next frame is the next late one's.
        assert (await taker.book(buyer, event, 1)).status == 201
        later = await _booked_behind_a_lock(taker, db_pool, buyer, event)
        async with asyncio.timeout(10):
            pushed = await _next_booking(stream)
        assert (pushed["id"], pushed["status"]) == (later, "confirmed")


async def test_an_expiry_no_gateway_asked_for_reaches_the_owners_stream(
        shard_worker: Any, make_api: Any, db_pool: Any) -> None:
    # A hold its new owner loaded from the database (a worker restarted, or a standby that
    # took the event over) has no gateway to answer: the one that took the booking is not
    # known to it. Its expiry must still reach the buyer's stream, on whichever gateway.
    api: Api = await make_api(amqp_url=Secret(TEST_AMQP_URL))
    event = (await api.event(totalTickets=2, priceCents=100, holdSeconds=60))["id"]
    buyer = await api.account()
    # The hold's first owner, an actor an hour behind, held it and is gone: it is overdue.
    outlet = RecordingOutlet()
    async with ShardActor(0, PgShardStore(db_pool), outlet,
                          clock=lambda: utcnow() - timedelta(hours=1)) as first:
        first.submit(Envelope([BookCommand(uuid.uuid4(), event, buyer.id, 1, "gone")]))
        await first.drain()
    [held] = outlet.outcomes
    assert held.status == BookingStatus.HELD
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={ticket}") as stream:
        assert (await stream.content.readline()).startswith(b"retry:")
        # What the sweep of overdue holds sends: the event's owner now claims it.
        assert shard_worker.consumer is not None
        await shard_worker.consumer.forward([WakeCommand(event)])

        async def expired() -> bool:
            return await db_pool.fetchval("SELECT status FROM bookings WHERE id = $1",
                                          held.booking_id) == "expired"

        await assert_eventually(expired, message="the new owner did not expire the hold")
        async with asyncio.timeout(10):
            pushed = await _next_booking(stream)
        assert (pushed["id"], pushed["status"]) == (str(held.booking_id), "expired")


async def test_a_decision_for_a_reply_queue_gone_reaches_the_owners_stream(
        shard_worker: Any, make_api: Any) -> None:
    # A gateway that reconnected to the broker listens on a new reply queue (and one that
    # died on none): the decisions of commands it sent before are addressed to a queue
    # nobody has, and must still reach their owners' streams.
    api: Api = await make_api(amqp_url=Secret(TEST_AMQP_URL))
    event = (await api.event(totalTickets=2))["id"]
    buyer = await api.account()
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={ticket}") as stream:
        assert (await stream.content.readline()).startswith(b"retry:")
        booking = uuid.uuid4()
        assert shard_worker.consumer is not None
        await shard_worker.consumer.forward(
            [BookCommand(booking, event, buyer.id, 1, f"{uuid.uuid4().hex}.reply.gone")])
        async with asyncio.timeout(10):
            pushed = await _next_booking(stream)
        assert (pushed["id"], pushed["status"]) == (str(booking), "confirmed")


async def test_a_request_waiting_when_its_reply_queue_went_still_gets_its_decision(
        shard_worker: Any, make_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The gateway reconnected to the broker while a booking of its waited: the command went
    # out naming the old reply queue, so its decision comes back on the stock fanout. The
    # request waiting here takes it (it answered 202 at the end of its wait before).
    api: Api = await make_api(amqp_url=Secret(TEST_AMQP_URL))
    event = (await api.event(totalTickets=2))["id"]
    buyer = await api.account()
    transport = api.app[transport_key]
    send = transport.send
    gone = f"{uuid.uuid4().hex}.reply.gone"  # the queue of its previous connection

    async def before_the_reconnect(commands: Sequence[Command]) -> None:
        await send([replace(c, reply_to=gone) for c in commands])

    monkeypatch.setattr(transport, "send", before_the_reconnect)
    started = time.monotonic()
    booked = await api.book(buyer, event, 1)
    assert (booked.status, booked.body["status"]) == (201, "confirmed"), booked.body
    wait = api.app[settings_key].booking_wait_seconds
    assert time.monotonic() - started < wait, "answered by the end of the wait, not the decision"
