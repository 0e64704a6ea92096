"""Admission control: refuse a booking at once, before any side effect, when the gateway
already works on as many as it can answer in time — instead of queueing it until every
answer is late.

The bound is a count of requests in flight, sized by Little's law: capacity times the
latency to keep. A latency rule (CoDel's: refuse while even the fastest request of the last
interval was slow) was tried and dropped: replays and cancels stay fast while new bookings
queue, and requests waiting for a frozen shard's outcome (answered 202, cheaply) look slow
without being a queue — docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from engine.errors import Unavailable


class Admission:
    """Counts requests in and out; `admitted()` refuses with `Unavailable` (503)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @property
    def full(self) -> bool:
        """Whether a request arriving now would be refused."""
        return self.in_flight >= self.limit

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Count a request in for the `with` block, or refuse it at once."""
        if self.full:
            raise Unavailable("the gateway is at capacity, try again shortly", retry_after=1)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
