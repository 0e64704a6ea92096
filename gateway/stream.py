"""The SSE hub behind `GET /api/stream`: seats left for everyone, booking updates for the
signed-in owner (the route itself is `gateway.routes.stream`).

Stock updates are debounced: during a surge every batch changes stock, and pushing each change
to every open browser would cost more than the booking itself. The hub keeps the latest count
per event and flushes at most every `STOCK_FLUSH_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from engine.errors import Overloaded
from engine.messages import Outcome, StockUpdate
from engine.types import EventId, UserId

STOCK_FLUSH_SECONDS = 0.1
#: A browser that falls this far behind is disconnected (it reconnects and catches up).
SUBSCRIBER_BACKLOG = 256


def streamed(outcome: Outcome) -> bool:
    """Whether an outcome is a booking update for its owner's streams: a check-in's answer
    and the answer to a join (of a waiting list or room), an extension or an event's cancel
    concern the request that asked for them only."""
    return not (outcome.checkin is not None or outcome.waitlist or outcome.queue is not None
                or outcome.event_cancel or outcome.extension)


@dataclass(frozen=True)
class StreamCaps:
    """Most streams open at once: in this process, per signed-in user, per address."""

    total: int
    per_user: int
    per_address: int


@dataclass(eq=False)
class Subscriber:
    """One open stream: whose it is, what it counts against, and the frames waiting to be
    written to it."""

    user_id: UserId | None
    counted_as: tuple[str, ...] = ()
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(
        SUBSCRIBER_BACKLOG))


def _frame(event: str, data: object) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _stock_data(update: StockUpdate) -> dict[str, int]:
    data = {"eventId": update.event_id, "availableTickets": update.available}
    if update.booked is not None:
        # Cumulative, so a debounced or missed frame loses nothing: the page counts the rise
        # (and, under a new epoch, a fresh count since the actor reloaded the event).
        data["bookings"], data["bookingsEpoch"] = update.booked
    return data


class StreamHub:
    """Fans engine notifications out to open SSE connections."""

    def __init__(self, caps: StreamCaps) -> None:
        self._caps = caps
        self._subscribers: set[Subscriber] = set()
        #: Open streams per "user:<id>" / "addr:<address>", and in all under "".
        self._open: Counter[str] = Counter()
        self._pending: dict[EventId, StockUpdate] = {}
        self._flush: asyncio.TimerHandle | None = None
        #: The latest booking count heard per event (`StockUpdate.booked`): where a page that
        #: opens now starts counting (`booked`), so the first frame it sees is not lost.
        self._booked: dict[EventId, tuple[int, int]] = {}

    def subscribe(self, user_id: UserId | None, address: str) -> Subscriber:
        """A new connection's mailbox; `Overloaded` when a cap is reached."""
        keys = {"": self._caps.total, f"addr:{address}": self._caps.per_address}
        if user_id is not None:
            keys[f"user:{user_id}"] = self._caps.per_user
        for key, cap in keys.items():
            if self._open[key] >= cap:
                whose = "on this server" if key == "" else f"for this {key.split(':')[0]}"
                raise Overloaded(f"too many open event streams {whose}; retry later")
        sub = Subscriber(user_id, tuple(keys))
        self._open.update(sub.counted_as)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a closed connection (idempotent)."""
        self._subscribers.discard(sub)
        self._open.subtract(sub.counted_as)
        for key in sub.counted_as:
            if self._open[key] <= 0:
                del self._open[key]
        sub.counted_as = ()

    @property
    def connections(self) -> int:
        """Open SSE connections."""
        return self._open[""]

    def stock(self, updates: Sequence[StockUpdate]) -> None:
        """Note new stock counts; they go out on the next flush."""
        for u in updates:
            if u.booked is not None:
                self._booked[u.event_id] = u.booked
            earlier = self._pending.get(u.event_id)
            if u.booked is None and earlier is not None and earlier.booked is not None:
                # Seats only (an edit): the actor's count still goes out with them.
                u = StockUpdate(u.event_id, u.available, earlier.booked)
            self._pending[u.event_id] = u
        if self._flush is None and self._subscribers:
            self._flush = asyncio.get_running_loop().call_later(STOCK_FLUSH_SECONDS,
                                                                self._flush_stock)

    def booked(self, event_id: EventId) -> tuple[int, int] | None:
        """The latest (bookings, epoch) of an event's actor this gateway heard, if any."""
        return self._booked.get(event_id)

    def _flush_stock(self) -> None:
        self._flush = None
        frames = [_frame("stock", _stock_data(u)) for u in self._pending.values()]
        self._pending.clear()
        for sub in list(self._subscribers):
            for frame in frames:
                self._offer(sub, frame)

    def outcome(self, outcome: Outcome) -> None:
        """Push a booking's outcome to its owner's connections on this gateway (a
        waiting-list offer is one, `offer: true`; a warning says the hold's deadline is near,
        with the deadline). What `streamed` leaves out is not pushed."""
        if not streamed(outcome):
            return
        frame = _frame("booking", {"id": str(outcome.booking_id), "eventId": outcome.event_id,
                                   "status": outcome.status.value, "reason": outcome.reason,
                                   "quantity": outcome.quantity, "offer": outcome.offer,
                                   **({"warning": True, "expiresAt": _instant(outcome)}
                                      if outcome.warning else {})})
        for sub in list(self._subscribers):
            if sub.user_id == outcome.user_id:
                self._offer(sub, frame)

    def users(self) -> set[UserId]:
        """The signed-in users with a stream open on this gateway."""
        return {sub.user_id for sub in self._subscribers if sub.user_id is not None}

    def to_user(self, user_id: UserId, event: str, data: object) -> None:
        """Push one event to a user's streams on this gateway (none open: nothing)."""
        frame = _frame(event, data)
        for sub in list(self._subscribers):
            if sub.user_id == user_id:
                self._offer(sub, frame)

    def _offer(self, sub: Subscriber, frame: bytes) -> None:
        try:
            sub.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._subscribers.discard(sub)
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.get_nowait()
                sub.queue.put_nowait(None)  # tells the handler to close

    def close(self) -> None:
        """End every stream (shutdown): each handler returns."""
        if self._flush is not None:
            self._flush.cancel()
        for sub in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)
        self._subscribers.clear()


def _instant(outcome: Outcome) -> str | None:
    at = outcome.expires_at
    return None if at is None else at.isoformat().replace("+00:00", "Z")
