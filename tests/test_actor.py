"""The shard actor against real PostgreSQL: group commit, the drain barrier, ordered
shutdown, and fencing when two actors believe they own one event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from engine.messages import BookCommand, Command, Outcome, StockUpdate
from engine.runtime import ShardActor
from engine.storage import create_pool
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


class DeadLetters(RecordingOutlet):
    """Also remembers the envelopes the actor dead-lettered."""

    def __init__(self) -> None:
        super().__init__()
        self.dead: list[Envelope] = []

    async def dead_letter(self, envelope: Envelope) -> None:
        self.dead.append(envelope)


class FailsAfterCommit(DeadLetters):
    """Records like the others; raises once after a commit when told (kills the actor)."""

    fail = False

    async def send_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("a bug after the commit")
        await super().send_outcomes(outcomes)


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


async def test_a_displaced_owner_repeating_a_booking_the_new_owner_wrote_is_fenced(
        api: Api) -> None:
    # The batch is one statement (fence, keys, bookings, tickets): a stale owner's rows must
    # not even be tried, or the new owner's row makes it a duplicate and the stale owner,
    # told "decided before", would answer for an event it no longer owns.
    event_id, users = await _setup(api, seats=3, buyers=2)
    old_outlet, new_outlet = RecordingOutlet(), RecordingOutlet()
    async with ShardActor(0, PgShardStore(api.pool), old_outlet) as old, \
            ShardActor(1, PgShardStore(api.pool), new_outlet) as new:
        old.submit(_book(event_id, users[0]))
        await old.drain()
        again = _book(event_id, users[1])
        new.submit(again)
        await new.drain()
        old.submit(Envelope(again.commands))  # the same command reaches the old owner too
        await old.drain()
        assert old.fenced == 1
        assert [c.booking_id for c in old_outlet.forwarded] == [again.commands[0].booking_id]
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 2
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_a_sales_batch_is_written_in_one_statement(api: Api, make_settings: Any) -> None:
    # Counters, key pins, bookings and tickets: one autocommitted statement, one round trip
    # (the actor's next batch waits for it). A stale owner's is refused whole (above).
    event_id, users = await _setup(api, seats=10, buyers=4)
    sent: list[int] = []
    pool = await create_pool(make_settings(), apply_migrations=False,
                             on_statement=lambda: sent.append(1))
    outlet = RecordingOutlet()
    try:
        async with ShardActor(0, PgShardStore(pool), outlet) as actor:
            actor.submit(_book(event_id, users[0]))  # claims the event: reads of its own
            await actor.drain()
            before = len(sent)
            actor.submit(Envelope([_keyed(event_id, u, "k", 2) for u in users[1:]]))
            await actor.drain()
            assert len(sent) - before == 1
    finally:
        await pool.close()
    assert [o.status for o in outlet.outcomes] == [BookingStatus.CONFIRMED] * 4
    assert await api.pool.fetchval("SELECT count(*) FROM tickets WHERE event_id = $1",
                                   event_id) == 7
    assert await api.pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE event_id = $1",
                                   event_id) == 3
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


# -- idempotency keys, decided by the actor (issue: the hot path without per-request I/O) --

def _keyed(event_id: int, user_id: int, key: str, quantity: int = 1) -> BookCommand:
    return BookCommand(uuid.uuid4(), event_id, user_id, quantity, "test",
                       idempotency_key=key)


async def test_a_replay_under_a_new_booking_id_is_answered_from_memory(api: Api) -> None:
    event_id, users = await _setup(api, seats=10, buyers=1)
    store, outlet = GatedStore(api.pool), RecordingOutlet()
    first, copy, later = (_keyed(event_id, users[0], "k", 2) for _ in range(3))
    async with ShardActor(0, store, outlet) as actor:
        actor.submit(Envelope([first, copy]))  # concurrent copies: one batch
        await actor.drain()
        actor.submit(Envelope([later]))        # a retry after the answer
        await actor.drain()
    confirmed = [o for o in outlet.outcomes if o.status is BookingStatus.CONFIRMED]
    assert [o.booking_id for o in confirmed] == [first.booking_id] * 3
    assert [o.answers for o in outlet.outcomes] == [None, copy.booking_id, later.booking_id]
    assert len({o.tickets for o in outlet.outcomes}) == 1
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 2
    pinned = await api.pool.fetchval(
        "SELECT booking_id FROM idempotency_keys WHERE user_id = $1 AND key = 'k'", users[0])
    assert pinned == first.booking_id
    # A new owner loads the keys with the event: the replay is still the first booking.
    outlet2 = RecordingOutlet()
    async with ShardActor(1, PgShardStore(api.pool), outlet2) as successor:
        successor.submit(Envelope([_keyed(event_id, users[0], "k", 2)]))
        await successor.drain()
    assert outlet2.outcomes[0].booking_id == first.booking_id
    assert outlet2.outcomes[0].tickets == confirmed[0].tickets
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_a_key_reused_for_an_event_of_another_shard_is_refused_not_poison(
        api: Api) -> None:
    (event_a, users), (event_b, _) = await _setup(api, 10, 3), await _setup(api, 10, 0)
    outlet_a, outlet_b = RecordingOutlet(), RecordingOutlet()
    async with ShardActor(0, PgShardStore(api.pool), outlet_a) as a:
        a.submit(Envelope([_keyed(event_a, users[0], "same")]))
        await a.drain()
    others = [_keyed(event_b, u, f"other-{u}") for u in users[1:]]
    reused = _keyed(event_b, users[0], "same")
    async with ShardActor(1, PgShardStore(api.pool), outlet_b) as b:
        b.submit(Envelope([others[0], reused, others[1]]))  # caught only at commit
        await b.drain()
        assert b.busy is False
    by_id = {o.booking_id: o for o in outlet_b.outcomes}
    assert by_id[reused.booking_id].reason == "idempotency_key_reused"
    assert {by_id[c.booking_id].status for c in others} == {BookingStatus.CONFIRMED}
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_b) == 2
    assert await api.pool.fetchval(
        "SELECT count(*) FROM bookings WHERE id = $1", reused.booking_id) == 0


async def test_a_key_pinned_by_a_gateway_to_an_undecided_booking_decides_that_one(
        api: Api) -> None:
    event_id, users = await _setup(api, seats=10, buyers=1)
    pinned = uuid.uuid4()  # the gateway answered 202 with this id; its command is late
    await api.pool.execute(
        "INSERT INTO idempotency_keys (user_id, key, booking_id, event_id, quantity)"
        " VALUES ($1, 'slow', $2, $3, 1)", users[0], pinned, event_id)
    outlet = RecordingOutlet()
    retry = _keyed(event_id, users[0], "slow")
    late = BookCommand(pinned, event_id, users[0], 1, "test", idempotency_key="slow")
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        actor.submit(Envelope([retry]))
        await actor.drain()
        actor.submit(Envelope([late]))
        await actor.drain()
    assert [(o.booking_id, o.answers) for o in outlet.outcomes] == [
        (pinned, retry.booking_id), (pinned, None)]
    assert outlet.outcomes[0].status is BookingStatus.CONFIRMED
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 1


async def test_a_poison_command_in_a_message_of_many_events_is_alone_dead_lettered(
        api: Api) -> None:
    (event_a, users), (event_b, _) = await _setup(api, 10, 4), await _setup(api, 10, 0)

    outlet = DeadLetters()
    poison = BookCommand(uuid.uuid4(), event_b, 999_999_999, 1, "test")  # no such user
    good = [BookCommand(uuid.uuid4(), e, u, 1, "test")
            for e in (event_a, event_b) for u in users]
    message = Envelope(good[:3] + [poison] + good[3:], token="one-delivery")
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        actor.submit(message)
        await actor.drain()
        assert actor.busy is False
    assert outlet.dead == []  # the message as a whole is not rejected...
    assert [e for e in outlet.acked if e.token == "one-delivery"] == [message]  # ...but acked
    by_id = {o.booking_id: o for o in outlet.outcomes}
    assert by_id[poison.booking_id].status is BookingStatus.REJECTED
    assert {by_id[c.booking_id].status for c in good} == {BookingStatus.CONFIRMED}
    assert (await check_invariants(api.pool, [event_a, event_b])).ok
