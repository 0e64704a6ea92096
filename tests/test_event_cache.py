"""The gateway's event cache: one read per event at a time, refreshes in the background.

Pure asyncio: the loader is a gate the test opens, the clock a number it moves."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import NotFound
from engine.event_cache import EventCache


class Loader:
    """Counts reads; each read waits for the test to open its gate."""

    def __init__(self) -> None:
        self.reads = 0
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.value = "v1"

    async def __call__(self, event_id: int) -> str:
        self.reads += 1
        value = self.value  # what the row says when the read starts
        self.started.set()
        await self.gate.wait()
        if value == "gone":
            raise NotFound("no such event")
        return f"{value}:{event_id}"


class Clock:
    """Monotonic seconds the test moves."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(ttl: float = 2.0) -> tuple[EventCache[str], Loader, Clock]:
    loader, clock = Loader(), Clock()
    return EventCache(loader, ttl=ttl, now=clock), loader, clock


async def test_concurrent_misses_share_one_read() -> None:
    cache, loader, _ = make()
    waiters = [asyncio.ensure_future(cache.get(7)) for _ in range(50)]
    await loader.started.wait()  # the read runs: every waiter asked before it (FIFO)
    loader.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"v1:7"}
    assert loader.reads == 1


async def test_a_fresh_entry_is_served_without_a_read() -> None:
    cache, loader, clock = make()
    loader.gate.set()
    await cache.get(1)
    clock.t += 1.9
    assert await cache.get(1) == "v1:1"
    assert loader.reads == 1


async def test_a_stale_entry_is_served_while_one_refresh_runs() -> None:
    cache, loader, clock = make()
    loader.gate.set()
    await cache.get(1)
    loader.gate.clear()
    loader.started.clear()
    loader.value = "v2"
    clock.t += 2.5  # stale
    # Answered at once from the copy it has, although the refresh is held at its gate.
    assert [await cache.get(1) for _ in range(10)] == ["v1:1"] * 10
    await loader.started.wait()
    assert cache.refreshing(1) and loader.reads == 2
    loader.gate.set()
    await cache.settled()
    assert not cache.refreshing(1)
    assert await cache.get(1) == "v2:1" and loader.reads == 2


async def test_a_very_old_entry_waits_for_its_read() -> None:
    """Past twice the lifetime (a refresh kept failing, or nobody asked), the copy is too old
    to answer from: callers wait for one read."""
    cache, loader, clock = make()
    loader.gate.set()
    await cache.get(1)
    loader.value = "v2"
    clock.t += 4.5
    assert await cache.get(1) == "v2:1"


async def test_a_failed_read_reaches_every_waiter_and_is_not_cached() -> None:
    cache, loader, _ = make()
    loader.value = "gone"
    waiters = [asyncio.ensure_future(cache.get(3)) for _ in range(5)]
    await loader.started.wait()
    loader.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, NotFound) for r in results)
    assert loader.reads == 1
    loader.value = "v1"
    assert await cache.get(3) == "v1:3" and loader.reads == 2


async def test_a_failed_refresh_keeps_the_copy() -> None:
    cache, loader, clock = make()
    loader.gate.set()
    await cache.get(1)
    loader.value = "gone"
    clock.t += 2.5
    assert await cache.get(1) == "v1:1"  # starts the refresh, which fails
    await cache.settled()
    with pytest.raises(NotFound):  # past twice the lifetime: read, and it is gone
        clock.t += 2.0
        await cache.get(1)


async def test_forget_wins_over_a_read_in_flight() -> None:
    """An organizer's edit (forget) during a read: the read started before the edit must not
    put the old copy back; the next caller reads again."""
    cache, loader, _ = make()
    first = asyncio.ensure_future(cache.get(1))
    await loader.started.wait()
    loader.value = "v2"
    cache.forget(1)
    loader.gate.set()
    assert await first == "v1:1"  # what its caller asked for before the edit
    second = await cache.get(1)
    assert second == "v2:1" and loader.reads == 2


async def test_a_cancelled_caller_does_not_cancel_the_shared_read() -> None:
    cache, loader, _ = make()
    first = asyncio.ensure_future(cache.get(1))
    second = asyncio.ensure_future(cache.get(1))
    await loader.started.wait()
    first.cancel()
    loader.gate.set()
    assert await second == "v1:1"
    assert loader.reads == 1
