"""The shard actor against real PostgreSQL: group commit, the drain barrier, ordered
shutdown, and fencing when two actors believe they own one event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg

from engine.messages import BookCommand, Command, Outcome, StockUpdate
from engine.runtime import ShardActor
from engine.storage.invariants import check_invariants
from engine.storage.shard_store import BatchWrite, PgShardStore
from engine.transport.base import Envelope
from engine.types import BookingStatus, Role
from tests.factories import create_accounts
from tests.helpers import Api


class RecordingOutlet:
    """An Outlet that remembers what the actor did, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.outcomes: list[Outcome] = []
        self.acked: list[Envelope] = []
        self.forwarded: list[Command] = []
        self.stock: list[StockUpdate] = []

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        self.log.append("ack")
        self.acked += envelopes

    async def send_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        self.log.append("outcomes")
        self.outcomes += outcomes

    async def send_stock(self, updates: Sequence[StockUpdate]) -> None:
        self.stock += updates

    async def forward(self, commands: Sequence[Command]) -> None:
        self.log.append("forward")
        self.forwarded += commands


class GatedStore(PgShardStore):
    """Counts commits; can hold one at the gate so a test knows a batch is in flight."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.batch_sizes: list[int] = []
        self.gate: asyncio.Event | None = None
        self.at_gate = asyncio.Event()

    async def commit(self, batch: BatchWrite) -> None:
        if self.gate is not None:
            self.at_gate.set()
            await self.gate.wait()
        await super().commit(batch)
        self.batch_sizes.append(len(batch.bookings) + len(batch.cancelled))


async def _setup(api: Api, seats: int, buyers: int) -> tuple[int, list[int]]:
    event = await api.event(totalTickets=seats)
    accounts = await create_accounts(api.pool, api.issuer, buyers, Role.USER)
    return event["id"], [a.id for a in accounts]


def _book(event_id: int, user_id: int) -> Envelope:
    return Envelope([BookCommand(uuid.uuid4(), event_id, user_id, 1, "test")])


async def test_group_commit_batches_grow_with_load(api: Api) -> None:
    event_id, users = await _setup(api, seats=300, buyers=1000)
    store, outlet = GatedStore(api.pool), RecordingOutlet()
    async with ShardActor(0, store, outlet, max_batch=256) as actor:
        for user in users:
            actor.submit(_book(event_id, user))
        await actor.drain()
    assert len(outlet.outcomes) == 1000
    assert sum(o.status is BookingStatus.CONFIRMED for o in outlet.outcomes) == 300
    # 1,000 commands arrived at once: a few transactions of up to 256, not 1,000.
    assert sum(store.batch_sizes) == 1000
    assert len(store.batch_sizes) <= 8 and max(store.batch_sizes) == 256
    assert outlet.log.count("ack") == len(store.batch_sizes)
    assert outlet.stock[-1].available == 0
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_acks_and_answers_come_only_after_the_commit(api: Api) -> None:
    event_id, users = await _setup(api, seats=10, buyers=3)
    store, outlet = GatedStore(api.pool), RecordingOutlet()
    store.gate = asyncio.Event()
    async with ShardActor(0, store, outlet) as actor:
        for user in users:
            actor.submit(_book(event_id, user))
        await store.at_gate.wait()
        assert (outlet.acked, outlet.outcomes) == ([], [])
        assert await api.pool.fetchval("SELECT count(*) FROM bookings WHERE event_id = $1",
                                       event_id) == 0
        store.gate.set()
        await actor.drain()
    assert outlet.log == ["ack", "outcomes"]
    assert len(outlet.acked) == 3


async def test_stop_finishes_the_batch_in_flight(api: Api) -> None:
    event_id, users = await _setup(api, seats=10, buyers=5)
    store, outlet = GatedStore(api.pool), RecordingOutlet()
    store.gate = asyncio.Event()
    actor = ShardActor(0, store, outlet)
    await actor.start()
    for user in users:
        actor.submit(_book(event_id, user))
    await store.at_gate.wait()
    stopping = asyncio.create_task(actor.stop())
    store.gate.set()
    await stopping
    await actor.stop()  # idempotent
    assert len(outlet.outcomes) == 5 and len(outlet.acked) == 5
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 5


async def test_a_displaced_owner_is_fenced_and_forwards(api: Api) -> None:
    event_id, users = await _setup(api, seats=3, buyers=6)
    old_outlet, new_outlet = RecordingOutlet(), RecordingOutlet()
    async with ShardActor(0, PgShardStore(api.pool), old_outlet) as old, \
            ShardActor(1, PgShardStore(api.pool), new_outlet) as new:
        old.submit(_book(event_id, users[0]))
        await old.drain()
        # The exchange remaps the event (a broker restart): another actor claims it.
        new.submit(_book(event_id, users[1]))
        await new.drain()
        # The old owner still believes it holds 2 seats; its write must not land.
        stale = [_book(event_id, u) for u in users[2:]]
        for envelope in stale:
            old.submit(envelope)
        await old.drain()
        assert old.fenced == 1
        assert not old.owns(event_id)
        assert [c.booking_id for c in old_outlet.forwarded] == [
            e.commands[0].booking_id for e in stale]
        assert old_outlet.log[-2:] == ["forward", "ack"]  # forwarded before acked
        # The new owner decides what was forwarded: one seat left, three asking.
        for cmd in old_outlet.forwarded:
            new.submit(Envelope([cmd]))
        await new.drain()
    decided = [o.status for o in new_outlet.outcomes[1:]]
    assert decided.count(BookingStatus.CONFIRMED) == 1
    assert decided.count(BookingStatus.REJECTED) == 3
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 3
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_a_redelivered_command_is_answered_from_the_database(api: Api) -> None:
    event_id, users = await _setup(api, seats=5, buyers=1)
    outlet = RecordingOutlet()
    command = BookCommand(uuid.uuid4(), event_id, users[0], 2, "test")
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        actor.submit(Envelope([command]))
        await actor.drain()
    # A new actor (say after a crash between commit and ack) gets the same message again.
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        actor.submit(Envelope([command], redelivered=True))
        actor.submit(Envelope([command, command]))  # and duplicates within one batch
        await actor.drain()
    first, *replays = outlet.outcomes
    assert first.status is BookingStatus.CONFIRMED
    assert all(r.tickets == first.tickets for r in replays) and len(replays) == 3
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 2
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_unknown_event_is_rejected_not_crashed(api: Api) -> None:
    outlet = RecordingOutlet()
    users = await create_accounts(api.pool, api.issuer, 1, Role.USER)
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        actor.submit(_book(987654321, users[0].id))
        await actor.drain()
    assert [o.reason for o in outlet.outcomes] == ["event_not_found"]


async def test_an_unflagged_duplicate_is_rechecked_not_fatal(api: Api) -> None:
    event_id, users = await _setup(api, seats=5, buyers=1)
    outlet = RecordingOutlet()
    command = BookCommand(uuid.uuid4(), event_id, users[0], 1, "test")
    async with ShardActor(0, PgShardStore(api.pool), outlet) as first:
        first.submit(Envelope([command]))
        await first.drain()
    # A copy that is neither flagged redelivered nor check_existing reaches a fresh owner.
    async with ShardActor(1, PgShardStore(api.pool), outlet) as second:
        second.submit(Envelope([command]))
        await second.drain()
        assert second.busy is False
    assert outlet.outcomes[1].tickets == outlet.outcomes[0].tickets
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 1


async def test_a_poison_command_is_isolated_and_dead_lettered(api: Api) -> None:
    event_id, users = await _setup(api, seats=10, buyers=6)

    class DeadLetters(RecordingOutlet):
        def __init__(self) -> None:
            super().__init__()
            self.dead: list[Envelope] = []

        async def dead_letter(self, envelope: Envelope) -> None:
            self.dead.append(envelope)

    outlet = DeadLetters()
    poison = Envelope([BookCommand(uuid.uuid4(), event_id, 999_999_999, 1, "test")])
    good = [_book(event_id, u) for u in users]
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        for envelope in good[:3] + [poison] + good[3:]:
            actor.submit(envelope)
        await actor.drain()
        assert actor.busy is False
    assert outlet.dead == [poison]
    assert sum(o.status is BookingStatus.CONFIRMED for o in outlet.outcomes) == 6
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 6
    assert (await check_invariants(api.pool, [event_id])).ok
