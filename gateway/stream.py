"""The SSE hub behind `GET /api/stream`: seats left for everyone, booking updates for the
signed-in owner (the route itself is `gateway.routes.stream`).

Stock updates are debounced: during a surge every batch changes stock, and pushing each change
to every open browser would cost more than the booking itself. The hub keeps the latest count
per event and flushes at most every `STOCK_FLUSH_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from engine.messages import Outcome, StockUpdate
from engine.types import EventId, UserId

STOCK_FLUSH_SECONDS = 0.1
#: A browser that falls this far behind is disconnected (it reconnects and catches up).
SUBSCRIBER_BACKLOG = 256


@dataclass(eq=False)
class Subscriber:
    """One open stream: whose it is, and the frames waiting to be written to it."""

    user_id: UserId | None
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(
        SUBSCRIBER_BACKLOG))


def _frame(event: str, data: object) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class StreamHub:
    """Fans engine notifications out to open SSE connections."""

    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self._pending: dict[EventId, int] = {}
        self._flush: asyncio.TimerHandle | None = None

    def subscribe(self, user_id: UserId | None) -> Subscriber:
        """A new connection's mailbox."""
        sub = Subscriber(user_id)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a closed connection."""
        self._subscribers.discard(sub)

    @property
    def connections(self) -> int:
        """Open SSE connections."""
        return len(self._subscribers)

    def stock(self, updates: Sequence[StockUpdate]) -> None:
        """Note new stock counts; they go out on the next flush."""
        for u in updates:
            self._pending[u.event_id] = u.available
        if self._flush is None and self._subscribers:
            self._flush = asyncio.get_running_loop().call_later(STOCK_FLUSH_SECONDS,
                                                                self._flush_stock)

    def _flush_stock(self) -> None:
        self._flush = None
        frames = [_frame("stock", {"eventId": e, "availableTickets": n})
                  for e, n in self._pending.items()]
        self._pending.clear()
        for sub in list(self._subscribers):
            for frame in frames:
                self._offer(sub, frame)

    def outcome(self, outcome: Outcome) -> None:
        """Push a booking's outcome to its owner's connections on this gateway."""
        frame = _frame("booking", {"id": str(outcome.booking_id), "eventId": outcome.event_id,
                                   "status": outcome.status.value, "reason": outcome.reason,
                                   "quantity": outcome.quantity})
        for sub in list(self._subscribers):
            if sub.user_id == outcome.user_id:
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
