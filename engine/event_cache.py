"""The gateway's copy of each event: one read per event at a time, however many ask.

A sale opens with thousands of buyers whose first request finds the event uncached. Read
one by one, each would pay its own round trip and queue for the pool — a database read per
request on the hot path, in exactly the second that matters. So a miss starts one read and
every request for that event awaits it; and an entry past its lifetime keeps answering while
one background read refreshes it, so a surge never stalls every `ttl` seconds either. Only a
copy older than twice the lifetime (nobody asked for it, or refreshes kept failing) is
waited for.

What a copy is trusted for is bounded by that age: name, sale start, per-buyer limit, price.
Seats left never come from here (the shard actors broadcast them), and an edit made through
this gateway forgets the copy at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from engine.types import EventId

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    read_at: float


class EventCache(Generic[T]):
    """Events by id, read through `load`; see the module docstring."""

    def __init__(self, load: Callable[[EventId], Awaitable[T]], *, ttl: float,
                 now: Callable[[], float] = time.monotonic,
                 on_read: Callable[[EventId, T], None] | None = None) -> None:
        self._load = load
        self._ttl = ttl
        self._now = now
        self._on_read = on_read
        self._entries: dict[EventId, _Entry[T]] = {}
        #: The one read under way per event (a miss or a refresh).
        self._reads: dict[EventId, asyncio.Task[T]] = {}

    async def get(self, event_id: EventId) -> T:
        """The event: from the copy while it is young enough, else from the one read."""
        entry = self._entries.get(event_id)
        if entry is not None:
            age = self._now() - entry.read_at
            if age < self._ttl:
                return entry.value
            if age < 2 * self._ttl:
                self._read(event_id)  # in the background; this caller is answered now
                return entry.value
        # shield: a caller that gives up (its request cancelled) leaves the read to the others.
        return await asyncio.shield(self._read(event_id))

    def forget(self, event_id: EventId) -> None:
        """Drop the copy (an edit through this gateway): the next caller reads again, and a
        read already under way may answer its own callers but is not kept."""
        self._entries.pop(event_id, None)
        self._reads.pop(event_id, None)

    def age(self, event_id: EventId) -> float | None:
        """Seconds since the copy was read; None without one."""
        entry = self._entries.get(event_id)
        return None if entry is None else self._now() - entry.read_at

    def refreshing(self, event_id: EventId) -> bool:
        """True while a read of this event is under way."""
        return event_id in self._reads

    async def settled(self) -> None:
        """Wait for every read under way (a test barrier; errors stay with their callers)."""
        if self._reads:
            await asyncio.wait(list(self._reads.values()))

    def _read(self, event_id: EventId) -> asyncio.Task[T]:
        task = self._reads.get(event_id)
        if task is None:
            task = asyncio.ensure_future(self._load(event_id))
            self._reads[event_id] = task
            task.add_done_callback(lambda t: self._done(event_id, t))
        return task

    def _done(self, event_id: EventId, task: asyncio.Task[T]) -> None:
        exc = None if task.cancelled() else task.exception()  # retrieved: never "unretrieved"
        if self._reads.get(event_id) is not task:
            return  # forgotten while it ran: its copy may predate the edit
        del self._reads[event_id]
        if task.cancelled():
            return
        if exc is not None:
            # Its callers get the error; a background refresh had none, and the copy stays
            # until it is too old to answer from.
            log.debug("reading event %s failed: %r", event_id, exc)
            return
        value = task.result()
        self._entries[event_id] = _Entry(value, self._now())
        if self._on_read is not None:
            self._on_read(event_id, value)
