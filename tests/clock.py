"""A clock the tests move by hand, and the sleeper that goes with it.

It reads real time plus an offset, so a session-wide instance is harmless to tests that never
move it; `advance` shifts it forward and wakes every sleeper at once, so a deadline that has
come due is seen without waiting a real second. The barrier after a move is the actors' drain
(which decides whatever is due by their clock), never a sleep.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from engine.types import utcnow


class FakeClock:
    """Real time plus an offset the test controls."""

    def __init__(self) -> None:
        self.offset = timedelta()
        self._sleepers: set[asyncio.Future[None]] = set()

    def now(self) -> datetime:
        """The clock function given to actors and services."""
        return utcnow() + self.offset

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of real time, or until the clock is moved (the caller rechecks
        its deadline either way)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), max(0.0, seconds))
        except TimeoutError:
            pass
        finally:
            self._sleepers.discard(waiter)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper."""
        self.offset += timedelta(seconds=seconds)
        for waiter in self._sleepers:
            if not waiter.done():
                waiter.set_result(None)

    def reset(self) -> None:
        """Back to real time (end of a test)."""
        self.offset = timedelta()


#: The session's clock: the shard worker and every test gateway read it.
CLOCK = FakeClock()
