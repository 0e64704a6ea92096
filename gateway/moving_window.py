"""An exact moving-window rate limit in this process's memory, O(1) work per hit.

At most `amount` hits per key within any `seconds`-long window: each key keeps the times of
its hits still inside the window (never more than `amount`), oldest first, so a hit drops
the ones that left the window from the front and counts what is left.

Why not the `limits` library's in-memory storage, which this replaced: after each hit it
schedules a sweep over *every* key it knows, and its async moving window hands each key's
list to a thread (`asyncio.to_thread`) in that sweep. A surge of 10,000 one-request buyers
is 10,000 keys, so every request paid for a walk over all of them: in a `many-events`
profile the sweep and its thread hand-offs were about a fifth of the gateway's samples.
Here keys are kept in the order they were last hit, so the ones idle for a whole window are
at the front and are dropped as later hits pass them: memory is bounded by the keys active
within one window, and no hit does more than amortized constant work.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class MovingWindow:
    """At most `amount` hits per key in any `seconds`; see the module docstring."""

    def __init__(self, amount: int, seconds: float, *,
                 now: Callable[[], float] = time.monotonic) -> None:
        if amount < 1 or seconds <= 0:
            raise ValueError("a rate limit needs amount >= 1 and a window > 0 s")
        self.amount = amount
        self.seconds = seconds
        self._now = now
        #: Each key's allowed hits still in the window, oldest first; keys by last hit.
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """Keys remembered (those that hit within about one window)."""
        return len(self._hits)

    def hit(self, key: str) -> float | None:
        """Count a hit of `key`: None when allowed, else the seconds until one would be."""
        now = self._now()
        start = now - self.seconds
        self._forget_idle(start)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        else:
            self._hits.move_to_end(key)
            while hits and hits[0] <= start:
                hits.popleft()
        if len(hits) >= self.amount:
            return hits[0] + self.seconds - now  # a refused hit is not counted
        hits.append(now)
        return None

    def _forget_idle(self, start: float) -> None:
        # The front keys were hit least recently; stop at the first one still in the window.
        while self._hits:
            key, hits = next(iter(self._hits.items()))
            if hits and hits[-1] > start:
                return
            del self._hits[key]
