"""The health probe's cache.

A probe costs a database round trip, and a health route is what load balancers, monitors
and bots call in a loop: the answer is kept for HEALTH_CACHE_SECONDS, and callers arriving
while a probe runs wait for that one instead of starting their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class HealthProbe:
    """The last probe's checks, renewed at most once per `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        #: Probes run so far (observed by the tests).
        self.probes = 0
        self._checks: dict[str, str] = {}
        self._taken_at = float("-inf")
        self._lock = asyncio.Lock()

    async def checks(self, probe: Callable[[], Awaitable[dict[str, str]]]) -> dict[str, str]:
        """Each dependency's state, from a `probe()` at most `ttl` seconds old."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            if loop.time() - self._taken_at >= self.ttl:
                self._checks = await probe()
                self._taken_at = loop.time()
                self.probes += 1
            return self._checks
