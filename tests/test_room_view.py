"""A gateway's copy of the waiting rooms (engine/room_view.py): loaded once, kept by
versioned broadcasts, read again after a gap, broadcasts during a load kept for after, and
the admission check. No I/O: the loader is a function the test controls."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from engine.messages import RoomEntry, RoomUpdate
from engine.room_view import RoomView
from engine.types import utcnow

EVENT = 3


def _update(version: int, *entries: RoomEntry, head: int = 0) -> RoomUpdate:
    return RoomUpdate(EVENT, version, head, 1, 0, True, False, 2.0, entries)


async def test_versions_skip_what_was_loaded_and_a_gap_reads_the_room_again() -> None:
    one = RoomEntry(uuid.uuid4(), 1, "waiting", 0, None)
    stored = [_update(2, one)]
    loads = 0

    async def load(event_id: int) -> RoomUpdate | None:
        nonlocal loads
        loads += 1
        return stored[-1]

    view = RoomView(load)
    room = await view.room(EVENT)
    assert (loads, room.version, room.position(one)) == (1, 2, 1)
    view.apply([_update(2, RoomEntry(one.queue_id, 1, "closed", 0, None))])  # seen already
    assert room.entries[one.queue_id].status == "waiting"
    later = utcnow() + timedelta(seconds=60)
    view.apply([_update(3, RoomEntry(one.queue_id, 1, "admitted", 0, later), head=1)])
    assert room.admission(1, utcnow()) is None and room.admission(2, utcnow()) == (
        "admission_required")
    assert room.admission(1, later) == "admission_expired"
    view.apply([_update(5)])  # 4 is missing: forget, read again when next needed
    assert view.gaps == 1 and view.known(EVENT) is None
    stored.append(_update(5, RoomEntry(one.queue_id, 1, "used", 0, later), head=1))
    assert (await view.room(EVENT)).entries[one.queue_id].status == "used" and loads == 2


async def test_broadcasts_during_a_load_are_applied_after_it() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    entry = RoomEntry(uuid.uuid4(), 9, "waiting", 4, None)

    async def load(event_id: int) -> RoomUpdate | None:
        started.set()
        await release.wait()
        return _update(1, entry)  # the snapshot the load read

    view = RoomView(load)
    reading = asyncio.ensure_future(view.room(EVENT))
    await started.wait()
    view.apply([_update(1, entry), _update(2, RoomEntry(entry.queue_id, 9, "admitted", 4,
                                                         None), head=5)])
    release.set()
    room = await reading
    assert (room.version, room.entries[entry.queue_id].status, room.head) == (2, "admitted", 5)
    assert view.event_of(entry.queue_id) == EVENT
