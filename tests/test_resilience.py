"""The shard actors under bad luck: a value nothing expected isolates its event instead of
killing the shard; an actor that dies anyway is started again and decides what it held; a
shutdown that cannot finish ends at its deadline; an organizer's edit reaches every
gateway's view of seats left."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg
import pytest

from engine.domain import EventLedger
from engine.errors import ShutdownIncomplete
from engine.messages import BookCommand, Command, Outcome, StockUpdate
from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.runtime import ShardRuntime
from engine.settings import Secret
from engine.storage.shard_store import PgShardStore
from engine.transport.base import Envelope
from engine.transport.inproc import InprocTransport
from engine.types import BookingStatus, EventId, Role
from gateway.keys import service_key, transport_key
from tests.conftest import TEST_AMQP_URL
from tests.helpers import Api, assert_eventually, blocked_on_an_event_row
from tests.worker import ShardWorker


class SpoilingStore(PgShardStore):
    """Loads one event with a value spoiled by `spoil` (what a buggy reader or a bad row
    would hand the actor)."""

    def __init__(self, pool: asyncpg.Pool, bad_event: EventId,
                 spoil: Callable[[EventLedger], None]) -> None:
        super().__init__(pool)
        self._bad, self._spoil = bad_event, spoil

    async def claim(self, event_ids: set[EventId]) -> dict[EventId, EventLedger]:
        ledgers = await super().claim(event_ids)
        if self._bad in ledgers:
            self._spoil(ledgers[self._bad])
        return ledgers


def unreadable_sale_start(ledger: EventLedger) -> None:
    """As an old reader met a stored `-infinity`: a naive datetime.min, which no aware clock
    can be compared with."""
    ledger.sale_starts_at = datetime.min


def unencodable_price(ledger: EventLedger) -> None:
    """A price no bigint holds: its hold's amount is a value the driver refuses to encode."""
    ledger.price_cents = 2**70


async def test_an_event_its_reader_chokes_on_is_isolated_not_fatal(api: Api) -> None:
    bad, good = (await api.event(totalTickets=5))["id"], (await api.event(totalTickets=5))["id"]
    buyers = await api.accounts(2)
    notifications, outcomes = Notifications(), []
    notifications.on_outcome(outcomes.append)
    runtime = ShardRuntime(SpoilingStore(api.pool, bad, unreadable_sale_start), shards=1)
    transport = InprocTransport(runtime, notifications)
    await transport.start()
    try:
        doomed = BookCommand(uuid.uuid4(), bad, buyers[0].id, 1, "test")
        await transport.send([doomed])
        await transport.send([BookCommand(uuid.uuid4(), good, buyers[1].id, 1, "test")])
        await transport.drain()
        # The same shard decides the next command of the good event: it did not die.
        await transport.send([BookCommand(uuid.uuid4(), good, buyers[0].id, 1, "test")])
        await transport.drain()
    finally:
        await transport.stop()
    assert not runtime.failed.is_set()
    by_event = {(o.event_id, o.user_id): o for o in outcomes}
    assert (by_event[bad, buyers[0].id].status, by_event[bad, buyers[0].id].reason) == (
        BookingStatus.REJECTED, "undeliverable")
    assert by_event[good, buyers[1].id].status is BookingStatus.CONFIRMED
    assert by_event[good, buyers[0].id].status is BookingStatus.CONFIRMED
    # Recorded, so the buyer can read it later: never pending forever.
    row = await api.pool.fetchrow("SELECT status, reason FROM bookings WHERE id = $1",
                                  doomed.booking_id)
    assert (row["status"], row["reason"]) == ("rejected", "undeliverable")


async def test_a_value_the_driver_cannot_encode_is_poison_not_an_outage(api: Api) -> None:
    # Before: the driver's DataError counted as a dropped connection, so the batch was
    # retried with backoff for ever and the shard decided nothing else.
    bad, good = (await api.event(totalTickets=5))["id"], (await api.event(totalTickets=5))["id"]
    buyers = await api.accounts(2)
    notifications, outcomes = Notifications(), []
    notifications.on_outcome(outcomes.append)
    metrics = Metrics()
    runtime = ShardRuntime(SpoilingStore(api.pool, bad, unencodable_price), shards=1,
                           metrics=metrics)
    transport = InprocTransport(runtime, notifications)
    await transport.start()
    try:
        doomed = BookCommand(uuid.uuid4(), bad, buyers[0].id, 1, "test")
        await transport.send([doomed])
        await transport.send([BookCommand(uuid.uuid4(), good, buyers[1].id, 1, "test")])
        await asyncio.wait_for(transport.drain(), timeout=30)
    finally:
        await transport.stop()
    by_event = {(o.event_id, o.user_id): o for o in outcomes}
    assert (by_event[bad, buyers[0].id].status, by_event[bad, buyers[0].id].reason) == (
        BookingStatus.REJECTED, "undeliverable")
    assert by_event[good, buyers[1].id].status is BookingStatus.CONFIRMED
    assert metrics.db_retries._value.get() == 0


class OutletThatFailsOnce:
    """An Outlet whose first answer fails after the commit: a bug that kills the actor."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.failures = 1

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        """Nothing to acknowledge."""

    async def send_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("a bug after the commit")
        self.outcomes += outcomes

    async def send_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Not needed here."""

    async def forward(self, commands: Sequence[Command]) -> None:
        raise AssertionError("nothing to forward")

    async def dead_letter(self, envelope: Envelope) -> None:
        raise AssertionError("nothing to dead-letter")


async def test_a_dead_actor_is_restarted_and_decides_what_it_held(api: Api) -> None:
    event = (await api.event(totalTickets=5))["id"]
    buyers = await api.accounts(2)
    metrics, outlet = Metrics(), OutletThatFailsOnce()
    runtime = ShardRuntime(PgShardStore(api.pool), shards=1, metrics=metrics)
    await runtime.start(outlet)
    try:
        first = BookCommand(uuid.uuid4(), event, buyers[0].id, 1, "test")
        runtime.submit(0, Envelope([first]))
        dead = runtime.actors[0]

        async def restarted() -> bool:
            return runtime.actors[0] is not dead

        await assert_eventually(restarted, message="the dead actor was not started again")
        runtime.submit(0, Envelope([BookCommand(uuid.uuid4(), event, buyers[1].id, 1, "t")]))
        await runtime.drain()
    finally:
        await runtime.stop()
    assert metrics.actor_restarts._value.get() == 1  # noqa: SLF001 (prometheus_client API)
    assert not runtime.failed.is_set()
    # The first booking was committed before the failure: its successor answers it from the
    # database (same tickets), and sells no second seat for it.
    assert [(o.booking_id == first.booking_id, o.status) for o in outlet.outcomes] == [
        (True, BookingStatus.CONFIRMED), (False, BookingStatus.CONFIRMED)]
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event) == 2


async def test_shutdown_ends_at_its_deadline(make_api: Callable[..., Any]) -> None:
    api = await make_api(shutdown_deadline_seconds=0.5)
    event = (await api.event(totalTickets=5))["id"]
    buyer = await api.account()
    transport = api.app[transport_key]
    assert isinstance(transport, InprocTransport)
    async with api.pool.acquire() as conn, conn.transaction():
        # Hold the event's row: the actor's batch cannot commit, so it cannot finish.
        await conn.execute("SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event)
        booking = asyncio.create_task(api.book(buyer, event, 1))

        await assert_eventually(partial(blocked_on_an_event_row, api.pool),
                                message="the booking never reached its actor")
        async with asyncio.timeout(10):
            with pytest.raises(ShutdownIncomplete):
                await transport.stop()
        booking.cancel()
    await transport.stop()  # idempotent: the app's own shutdown calls it again


async def test_a_capacity_raise_reaches_every_gateway(
        shard_worker: ShardWorker, make_api: Callable[..., Any]) -> None:
    rabbit = {"amqp_url": Secret(TEST_AMQP_URL)}
    first, second = await make_api(**rabbit), await make_api(**rabbit)
    vendor = await first.account(Role.VENDOR)
    event = await first.event(vendor, totalTickets=1)
    buyers = await first.accounts(2)
    assert (await first.book(buyers[0], event["id"], 1)).status == 201
    second_view = second.app[service_key].stock

    async def second_knows(seats: int) -> bool:
        return second_view.get(event["id"]) == seats

    # The sale's broadcast reaches the other gateway: it now refuses from memory.
    await assert_eventually(lambda: second_knows(0), message="no stock broadcast arrived")
    assert (await second.book(buyers[1], event["id"], 1)).body["booking"] is None
    edit = await first.call("PATCH", f"/api/events/{event['id']}", vendor,
                            json={"totalTickets": 2})
    assert edit.status == 200, edit.body
    await assert_eventually(lambda: second_knows(1),
                            message="the edit never reached the other gateway's view")
    assert (await second.book(buyers[1], event["id"], 1)).status == 201
