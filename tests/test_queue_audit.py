"""`ticketwar queue audit EVENT`: the admission order printed and checked against the rules
(the stored seed reproduces the pre-queue's shuffle, first in, first out after the opening);
a tampered order fails it."""

from __future__ import annotations

import uuid
from pathlib import Path

from engine.messages import QueueCommand
from engine.runtime import ShardActor
from engine.storage.shard_store import PgShardStore
from tests.clock import FakeClock
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import Api
from tests.test_cli import _env, _run
from tests.test_queue_actor import RoomOutlet, _room_event, _users
from tests.test_queue_actor import _env as _envelope


async def test_the_audit_recomputes_the_order_and_catches_a_swap(
        api: Api, clock: FakeClock, tmp_path: Path) -> None:
    event_id = await _room_event(api, clock, seats=10, opens_in=5)
    users = await _users(api, 8)
    async with ShardActor(0, PgShardStore(api.pool), RoomOutlet(), clock=clock.now,
                          sleeper=clock.sleep) as actor:
        actor.submit(_envelope(*(QueueCommand(uuid.uuid4(), event_id, u, "t")
                                 for u in users[:6])))
        await actor.drain()
        clock.advance(6)  # the opening shuffles the six
        actor.submit(_envelope(*(QueueCommand(uuid.uuid4(), event_id, u, "t")
                                 for u in users[6:])))
        await actor.drain()
    env = _env(DATABASE_URL=TEST_DATABASE_URL, DATA_DIR=str(tmp_path))
    code, out = await _run("queue", "audit", str(event_id), env=env)
    assert code == 0, out
    assert "8 admissions of 6 pre-queued and 2 later entries: the order follows" in out
    seed = await api.pool.fetchval("SELECT seed FROM queue_rooms WHERE event_id = $1",
                                   event_id)
    assert f"seed {bytes(seed).hex()}" in out

    # Two admissions swapped in the record: the audit says so, and fails.
    for was, now in ((0, -1), (1, 0), (-1, 1)):  # one at a time: admit_no is unique
        await api.pool.execute("UPDATE queue_entries SET admit_no = $3"
                               " WHERE event_id = $1 AND admit_no = $2", event_id, was, now)
    code, out = await _run("queue", "audit", str(event_id), env=env)
    assert code == 1 and "admission 1 is out of order" in out, out

    code, out = await _run("queue", "audit", str(event_id + 1000), env=env)
    assert code == 2 and "no waiting room" in out, out
