"""A waiting room's timers after its event changes owner (issue 14): the new owner reloads
the admissions' windows and the admission pace from PostgreSQL, as it reloads holds, and
keeps them on time; and a room whose owner vanished without a successor being told (a
standby took the worker's queues, no restart) is woken by the sweep when a timer of it is
overdue. Real PostgreSQL; the fake clock moves, nothing sleeps."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from engine.messages import BookCommand, QueueCommand, WakeCommand
from engine.runtime import ShardActor, ShardRuntime
from engine.runtime.runtime import SWEEP_GRACE_SECONDS
from engine.storage.shard_store import PgShardStore
from engine.transport.base import Envelope
from tests.clock import FakeClock
from tests.helpers import Api, assert_eventually
from tests.test_queue_actor import RoomOutlet, _admitted, _entries, _room_event, _users


async def _joined(actor: ShardActor, event_id: int, users: list[int]) -> None:
    actor.submit(Envelope([QueueCommand(uuid.uuid4(), event_id, u, "t") for u in users]))
    await actor.drain()


async def _counts(api: Api, event_id: int) -> dict[str, int]:
    statuses = list((await _entries(api, event_id)).values())
    return {s: statuses.count(s) for s in sorted(set(statuses))}


async def test_a_fresh_owner_expires_claimed_admissions_on_time_and_keeps_the_pace(
        api: Api, clock: FakeClock) -> None:
    timed = await _room_event(api, clock, seats=1, opens_in=0, admissionSeconds=30)
    paced = await _room_event(api, clock, seats=10, opens_in=0, admitPerMinute=6)
    users = await _users(api, 4)
    store = PgShardStore(api.pool)
    async with ShardActor(0, store, RoomOutlet(), clock=clock.now, sleeper=clock.sleep) as old:
        for event_id in (timed, paced):
            await _joined(old, event_id, users)
    assert [len(await _admitted(api, e)) for e in (timed, paced)] == [2, 1]  # 1 x 2; a token
    clock.advance(10)
    # The old owner is gone with its timers; a fresh actor claims both events (a wake-up, as
    # a restarted worker or the sweep sends) and arms theirs from the rows.
    async with ShardActor(1, store, RoomOutlet(), clock=clock.now, sleeper=clock.sleep) as new:
        new.submit(Envelope([WakeCommand(timed), WakeCommand(paced)]))
        await new.drain()
        assert len(await _admitted(api, paced)) == 2  # a token was due: one every 10 s
        clock.advance(10)
        await new.drain()
        assert len(await _admitted(api, paced)) == 3
        clock.advance(8)  # 2 s before the windows end: nothing expired early
        await new.drain()
        assert await _counts(api, timed) == {"admitted": 2, "waiting": 2}
        clock.advance(3)  # past the windows: expired by the new owner's own timer
        await new.drain()
        assert await _counts(api, timed) == {"admitted": 2, "expired": 2}
        assert len(await _admitted(api, paced)) == 4  # the pace held across the change


async def test_the_sweep_wakes_a_room_whose_owner_vanished_when_a_timer_is_overdue(
        api: Api, clock: FakeClock) -> None:
    timed = await _room_event(api, clock, seats=1, opens_in=0, admissionSeconds=30)
    paced = await _room_event(api, clock, seats=10, opens_in=0, admitPerMinute=6)
    opening = await _room_event(api, clock, seats=2, opens_in=20)
    users = await _users(api, 3)
    store = PgShardStore(api.pool)
    async with ShardActor(0, store, RoomOutlet(), clock=clock.now, sleeper=clock.sleep) as old:
        for event_id in (timed, paced, opening):
            await _joined(old, event_id, users)
        first, = await _admitted(api, paced)
        old.submit(Envelope([BookCommand(uuid.uuid4(), paced, first, 1, "t")]))
        await old.drain()
    # Nobody owns the rooms now and nobody told a successor: the admissions run out at
    # +30, the next token is due at +10 (the one admission was used), the sale opens at +20.
    grace = timedelta(seconds=SWEEP_GRACE_SECONDS)

    async def overdue() -> set[int]:
        return set(await store.events_with_holds(clock.now() - grace)) & {
            timed, paced, opening}

    assert await overdue() == set()
    for seconds, due in ((11, {paced}), (10, {paced, opening}), (10, {paced, opening, timed})):
        clock.advance(seconds)
        assert await overdue() == due
    # The sweep wakes each through the outlet; whoever consumes the event's queue now (a
    # fresh runtime here) claims it and catches up at once.
    outlet = RoomOutlet()
    runtime = ShardRuntime(store, shards=1, clock=clock.now, sleeper=clock.sleep)
    await runtime.start(outlet)
    sweep = asyncio.create_task(runtime.sweep_overdue_holds(every=0.01))
    try:
        async def woken() -> bool:
            return {c.event_id for c in outlet.forwarded} >= {timed, paced, opening}

        await assert_eventually(woken, message="the sweep woke no owner")
        runtime.submit(0, Envelope([WakeCommand(e) for e in (timed, paced, opening)]))
        await runtime.drain()
        assert await _counts(api, timed) == {"admitted": 1, "expired": 2}
        assert (await _counts(api, paced))["admitted"] == 1
        assert await _counts(api, opening) == {"admitted": 3}
        # Their owner watches them again: nothing is overdue, the sweep stays quiet.
        assert await overdue() == set()
    finally:
        sweep.cancel()
        await runtime.stop()
    # A room its organizer turns off is loaded by no owner: never overdue, whatever its row
    # says (the timed one is again, its owner gone: its last admission ran out).
    await api.pool.execute("UPDATE events SET waiting_room = false WHERE id = $1", paced)
    clock.advance(60)
    assert await overdue() == {timed}
