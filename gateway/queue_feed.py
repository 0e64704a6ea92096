"""`queue` events on `GET /api/stream`: a waiting-room entry's changes, pushed to its owner's
streams on this gateway, only when they mean something.

- A **status** change (admitted, used, expired, closed, the opening's prequeue → waiting) is
  pushed at once, from the broadcast that carries it.
- A **position** is pushed when its band changes (exact up to 10, then by tens, hundreds,
  thousands: a buyer at 4,812 hears of 4,000-odd, not every step), at most once a second
  per buyer, checked after each broadcast of the room. A band that moved within the second
  goes out with a later broadcast; a line that stops moving changes no band.

Only buyers with a stream open here are looked at, so the cost of a broadcast is bounded by
this process's streams (`MAX_STREAMS`), never by the length of the line.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.messages import RoomEntry, RoomUpdate
from engine.room_view import Room, RoomView
from engine.types import Clock
from engine.waiting_room import QueueId
from gateway.routes.queue import room_json
from gateway.stream import StreamHub

#: At most one position update per buyer per this many seconds.
POSITION_EVERY_SECONDS = 1.0


def band(position: int) -> tuple[int, int]:
    """The band a position falls in: what a change must cross to be worth a push."""
    step = 1 if position <= 10 else 10 ** (len(str(position)) - 1)
    return step, (position - 1) // step


class QueueFeed:
    """See the module docstring; wired in the app factory."""

    def __init__(self, hub: StreamHub, view: RoomView, clock: Clock) -> None:
        self._hub = hub
        self._view = view
        self._clock = clock
        #: Per entry, the band last pushed and when.
        self._pushed: dict[QueueId, tuple[tuple[int, int], float]] = {}

    def changed(self, room: Room, before: RoomEntry | None, after: RoomEntry) -> None:
        """An update changed an entry: push its status if that is what changed."""
        if before is not None and before.status == after.status:
            return
        if after.status != "waiting":
            self._pushed.pop(after.queue_id, None)
        self._push(room, after)

    def swept(self, updates: Sequence[RoomUpdate]) -> None:
        """After the view applied broadcasts: push the position bands that moved."""
        users = self._hub.users()
        if not users:
            return
        now = self._clock().timestamp()
        for event_id in {u.event_id for u in updates}:
            room = self._view.known(event_id)
            if room is None:
                continue
            for user_id in users:
                queue_id = room.latest.get(user_id)
                entry = None if queue_id is None else room.entries[queue_id]
                position = None if entry is None else room.position(entry)
                if entry is None or position is None:
                    continue
                last = self._pushed.get(entry.queue_id)
                if last is None or (last[0] != band(position)
                                    and now - last[1] >= POSITION_EVERY_SECONDS):
                    self._push(room, entry)

    def _push(self, room: Room, entry: RoomEntry) -> None:
        position = room.position(entry)
        if position is not None:
            self._pushed[entry.queue_id] = (band(position), self._clock().timestamp())
        self._hub.to_user(entry.user_id, "queue", room_json(room, entry.queue_id))
