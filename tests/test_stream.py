"""`/api/stream`: live seats for everyone, booking updates only for their owner."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from engine.types import Strategy
from tests.helpers import Api


async def _next_events(resp: Any, count: int,
                       max_lines: int = 50) -> list[tuple[str, dict[str, Any]]]:
    """Read SSE frames until `count` events have arrived, within `max_lines` lines (the
    caller bounds the time)."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = None
    for _ in range(max_lines):
        raw = await resp.content.readline()
        # At end of stream readline returns at once: without this the loop would spin.
        assert raw, f"the stream ended after {events}"
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: ") and name:
            events.append((name, orjson.loads(line[len("data: "):])))
            name = None
            if len(events) == count:
                return events
    raise AssertionError(f"{count} events not within {max_lines} lines: got {events}")


@pytest.mark.both_transports
@pytest.mark.parametrize("strategy", ["queued", "locked"])
async def test_stream_pushes_stock_and_own_bookings(make_api: Any, strategy: str) -> None:
    api: Api = await make_api(booking_strategy=Strategy(strategy))
    event = await api.event(totalTickets=3)
    buyer, stranger = await api.accounts(2)
    async with api.client.get(f"/api/stream?token={buyer.token}") as mine, \
            api.client.get("/api/stream", headers=stranger.headers) as theirs:
        assert mine.status == 200
        assert mine.headers["Content-Type"].startswith("text/event-stream")
        assert (await mine.content.readline()).startswith(b"retry:")
        reply = await api.book(buyer, event["id"], 2)
        assert reply.status == 201
        async with asyncio.timeout(5):
            got = await _next_events(mine, 2)
            seen_by_stranger = await _next_events(theirs, 1)
    kinds = dict(got)
    assert kinds["booking"]["id"] == reply.body["id"]
    assert kinds["booking"]["status"] == "confirmed"
    assert kinds["stock"] == {"eventId": event["id"], "availableTickets": 1}
    # The stranger sees the seats go, not the buyer's booking.
    assert seen_by_stranger == [("stock", {"eventId": event["id"], "availableTickets": 1})]


async def test_stream_refuses_a_bad_token(api: Api) -> None:
    reply = await api.call("GET", "/api/stream?token=not-a-token")
    assert (reply.status, reply.body["error"]) == (401, "unauthenticated")
