"""A shard worker's stock broadcasts, throttled: the first after a quiet spell goes at once,
what comes within the interval after it travels in one message with each event's latest
seats left (and its actor's booking count). Pure asyncio: the sleeper is a gate the test
opens."""

from __future__ import annotations

import asyncio

import orjson

from engine.messages import WIRE_VERSION, StockUpdate, decode_stock, encode_stock
from engine.transport.stock_throttle import StockThrottle


class Gate:
    """A sleeper that returns when the test opens it; counts the sleeps begun."""

    def __init__(self) -> None:
        self.sleeping = asyncio.Event()
        self._open = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.sleeping.set()
        await self._open.wait()
        self._open.clear()

    async def pass_once(self) -> None:
        """Let the current sleep end and wait until the next one has begun (or none)."""
        self.sleeping.clear()
        self._open.set()


class Sent:
    """Records the messages sent."""

    def __init__(self) -> None:
        self.messages: list[list[StockUpdate]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, updates: list[StockUpdate]) -> None:
        self.messages.append(updates)
        self.arrived.set()

    async def next(self) -> list[StockUpdate]:
        await self.arrived.wait()
        self.arrived.clear()
        return self.messages[-1]


async def test_the_first_update_goes_at_once_and_the_rest_gather() -> None:
    sent, gate = Sent(), Gate()
    throttle = StockThrottle(sent, interval=0.05, sleep=gate)
    throttle.put([StockUpdate(1, 10)])
    assert await sent.next() == [StockUpdate(1, 10)]
    await gate.sleeping.wait()  # the interval after it has begun
    for left in (9, 8, 7):
        throttle.put([StockUpdate(1, left), StockUpdate(2, left * 10)])
    throttle.put([StockUpdate(3, 1)])
    assert len(sent.messages) == 1  # held until the interval ends
    await gate.pass_once()
    assert await sent.next() == [StockUpdate(1, 7), StockUpdate(2, 70), StockUpdate(3, 1)]
    await gate.sleeping.wait()
    await gate.pass_once()  # nothing came meanwhile: the throttle goes quiet
    await throttle.idle()
    throttle.put([StockUpdate(1, 6)])  # after a quiet spell: at once again
    assert await sent.next() == [StockUpdate(1, 6)]
    await throttle.close()


async def test_order_of_first_arrival_is_kept() -> None:
    """A marker sent after an update arrives after it (the test barrier relies on that)."""
    sent, gate = Sent(), Gate()
    throttle = StockThrottle(sent, interval=0.05, sleep=gate)
    throttle.put([StockUpdate(5, 1)])
    await sent.next()
    await gate.sleeping.wait()
    throttle.put([StockUpdate(1, 3)])
    throttle.put([StockUpdate(-1, 1)])  # a marker
    throttle.put([StockUpdate(1, 2)])
    await gate.pass_once()
    assert await sent.next() == [StockUpdate(1, 2), StockUpdate(-1, 1)]
    await throttle.close()


async def test_close_sends_what_is_pending() -> None:
    sent, gate = Sent(), Gate()
    throttle = StockThrottle(sent, interval=0.05, sleep=gate)
    throttle.put([StockUpdate(1, 1)])
    await sent.next()
    await gate.sleeping.wait()
    throttle.put([StockUpdate(1, 0)])
    await throttle.close()
    assert sent.messages[-1] == [StockUpdate(1, 0)]


async def test_a_failing_send_does_not_stop_later_broadcasts() -> None:
    calls: list[list[StockUpdate]] = []

    async def flaky(updates: list[StockUpdate]) -> None:
        calls.append(updates)
        if len(calls) == 1:
            raise RuntimeError("boom")

    throttle = StockThrottle(flaky, interval=0.0)
    throttle.put([StockUpdate(1, 1)])
    await throttle.idle()
    throttle.put([StockUpdate(1, 0)])
    await throttle.idle()
    assert calls == [[StockUpdate(1, 1)], [StockUpdate(1, 0)]]
    await throttle.close()


def test_stock_messages_carry_the_booking_count_and_old_ones_still_read() -> None:
    updates = [StockUpdate(1, 5, (12, 3)), StockUpdate(2, 0)]
    assert decode_stock(encode_stock(updates)) == updates
    old = orjson.dumps({"v": WIRE_VERSION, "type": "stock", "items": [[1, 5]]})
    assert decode_stock(old) == [StockUpdate(1, 5)]
