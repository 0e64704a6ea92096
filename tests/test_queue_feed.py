"""`queue` stream events (gateway/queue_feed.py): a status change at once, a position only
when its band moves, at most once a second per buyer. No I/O: a real hub and room view fed
broadcasts by hand, a fake clock."""

from __future__ import annotations

import uuid

from engine.messages import RoomEntry, RoomUpdate
from engine.room_view import RoomView
from gateway.queue_feed import QueueFeed, band
from gateway.stream import StreamCaps, StreamHub
from tests.clock import FakeClock

EVENT = 7


async def _nothing(event_id: int) -> RoomUpdate | None:
    return None


def _update(version: int, head: int, *entries: RoomEntry) -> RoomUpdate:
    return RoomUpdate(EVENT, version, head, 100 - head, 0, True, False, 1.0, entries)


def test_bands_are_exact_near_the_front_and_coarse_far_back() -> None:
    assert [band(p) for p in (1, 10)] == [(1, 0), (1, 9)]
    assert band(11) == band(19) == (10, 1) and band(20) == (10, 1) and band(21) == (10, 2)
    assert band(4812) == band(4001) == (1000, 4)


async def test_status_at_once_positions_by_band_and_at_most_once_a_second() -> None:
    clock = FakeClock()
    hub = StreamHub(StreamCaps(10, 10, 10))
    view = RoomView(_nothing)
    feed = QueueFeed(hub, view, clock.now)
    view.on_change(feed.changed)
    await view.room(EVENT)  # held by this gateway (nobody joined yet)
    mine = hub.subscribe(1, "a")
    entry = RoomEntry(uuid.uuid4(), 1, "waiting", 30, None)

    def feed_in(update: RoomUpdate) -> None:
        view.apply([update])
        feed.swept([update])

    def frames() -> list[bytes]:
        out = []
        while not mine.queue.empty():
            frame = mine.queue.get_nowait()
            assert frame is not None
            out.append(frame)
        return out

    feed_in(_update(1, 0, entry))  # joined at 31: its status, once
    assert len(frames()) == 1
    feed_in(_update(2, 5))  # 26: the same band (tens), nothing
    assert frames() == []
    feed_in(_update(3, 21))  # 10: a new band, but within the second
    assert frames() == []
    clock.advance(1)
    feed_in(_update(4, 22))  # 9: goes out now
    assert [b'"position":9' in f for f in frames()] == [True]
    clock.advance(5)
    admitted = RoomEntry(entry.queue_id, 1, "admitted", 30, clock.now())
    feed_in(_update(5, 31, admitted))
    assert [b'"status":"admitted"' in f for f in frames()] == [True]
