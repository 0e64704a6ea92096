"""A surge over several gateways: buyers spread over them, and a request that failed or got
no answer is resent at the next gateway with the same Idempotency-Key (ops/surge/failover.py),
every attempt recorded and the last one marked final."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.types import Role
from ops.surge import scenario as scenarios
from ops.surge.failover import Failover
from ops.surge.load import LoadGenerator, plan
from ops.surge.population import Account
from ops.surge.progress import Progress
from ops.surge.sources import SourceClients

SCENARIOS = Path(__file__).parents[2] / "ops" / "scenarios"
QUICK = Failover(attempt_seconds=0.5, connect_seconds=0.5, first_pause_seconds=0.01)


def _gateway(seen: list[str], answer: int = 201) -> web.Application:
    """A stand-in gateway: `answer` to every booking, the same booking id for a key."""

    async def book(request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        seen.append(key)
        if answer == 0:  # a gateway that took the request and went silent
            await asyncio.Event().wait()
        if answer == 503:
            return web.json_response({"error": "unavailable", "bookingId": f"never-{key}"},
                                     status=503, headers={"Retry-After": "0"})
        return web.json_response({"id": f"booking-{key}", "quantity": 1, "status": "confirmed",
                                  "tickets": [{"code": f"code-{key}"}]}, status=201)

    app = web.Application()
    app.router.add_post("/api/events/{event_id}/book", book)
    return app


def _closed_port() -> int:
    """A port nothing listens on (bound, then released): connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _surge(urls: list[str], n: int = 40) -> LoadGenerator:
    scenario = scenarios.scaled(scenarios.load(SCENARIOS / "ci-small.toml"), n)
    buyers = [Account(i, f"b{i}@surge.example", Role.USER, f"token-{i}")
              for i in range(1, n + 1)]
    gateways = [SourceClients(u, addresses=1) for u in urls]
    for g in gateways:
        await g.__aenter__()
    try:
        generator = LoadGenerator(gateways, Progress(n, "t"), failover=QUICK)
        await generator.run(scenario, plan(scenario, buyers, [7], "t", 1), [])
    finally:
        for g in gateways:
            await g.__aexit__(None, None, None)
    return generator


async def test_buyers_are_spread_over_the_gateways() -> None:
    first: list[str] = []
    second: list[str] = []
    async with TestServer(_gateway(first)) as a, TestServer(_gateway(second)) as b:
        generator = await _surge([str(a.make_url("")), str(b.make_url(""))])
    assert len(first) >= 15 and len(second) >= 15  # about half each
    bookings = [s for s in generator.samples if s.kind != "cancel"]
    assert {s.gateway for s in bookings} == {0, 1}
    assert all(s.final and s.attempt == 0 and s.status == 201 for s in bookings)


async def test_a_gateway_that_refuses_connections_is_replaced_by_the_next() -> None:
    seen: list[str] = []
    async with TestServer(_gateway(seen)) as live:
        generator = await _surge([f"http://127.0.0.1:{_closed_port()}", str(live.make_url(""))])
    resent = [s for s in generator.samples if not s.final and s.kind != "cancel"]
    assert resent and all(s.status == 0 and s.gateway == 0 for s in resent)
    final = [s for s in generator.samples if s.final and s.kind != "cancel"]
    assert {s.status for s in final} == {201}
    # Each resent request reached the live gateway under its own key, and the answer the
    # client kept names the booking of that key.
    assert {s.key for s in resent} <= set(seen)
    assert all(s.booking_id == f"booking-{s.key}" for s in final)


async def test_a_silent_gateway_is_given_up_after_the_attempt_timeout() -> None:
    silent_seen: list[str] = []
    seen: list[str] = []
    async with TestServer(_gateway(silent_seen, answer=0)) as silent, \
            TestServer(_gateway(seen)) as live:
        generator = await _surge([str(silent.make_url("")), str(live.make_url(""))], n=20)
    # Every request first sent to the silent one went unanswered there, then was
    # answered by the other under the same key.
    assert silent_seen and set(silent_seen) <= set(seen)
    unanswered = [s for s in generator.samples if s.gateway == 0 and s.kind != "cancel"]
    assert unanswered and all(s.status == 0 and not s.final for s in unanswered)
    assert all(s.status == 201 for s in generator.samples if s.final and s.kind != "cancel")


async def test_503s_are_resent_with_the_same_key_until_the_budget_ends() -> None:
    seen: list[str] = []
    async with TestServer(_gateway(seen, answer=503)) as a, \
            TestServer(_gateway(seen, answer=503)) as b:
        generator = await _surge([str(a.make_url("")), str(b.make_url(""))], n=10)
    attempts = Counter(s.key for s in generator.samples)
    assert set(attempts.values()) == {QUICK.attempts}  # each key tried as often as allowed
    assert all(s.status == 503 for s in generator.samples)
    assert sum(s.final for s in generator.samples) == len(attempts)
    assert {s.gateway for s in generator.samples} == {0, 1}  # alternating
