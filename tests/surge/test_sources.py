"""The surge's buyers come from many source addresses in 127.0.0.0/8, as real buyers come
from many addresses, so per-address limits see what they would see in production."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.types import Role
from ops.surge import scenario as scenarios
from ops.surge.load import LoadGenerator, plan
from ops.surge.population import Account
from ops.surge.progress import Progress
from ops.surge.sources import SourceClients

SCENARIOS = Path(__file__).parents[2] / "ops" / "scenarios"


def _recording_app(seen: list[str]) -> web.Application:
    async def book(request: web.Request) -> web.Response:
        seen.append(request.remote or "")
        return web.json_response({"error": "sold_out"}, status=409)

    app = web.Application()
    app.router.add_post("/api/events/{event_id}/book", book)
    return app


def _buyers(n: int) -> list[Account]:
    return [Account(i, f"b{i}@surge.example", Role.USER, f"token-{i}") for i in range(1, n + 1)]


async def test_the_generator_spreads_buyers_over_loopback_addresses() -> None:
    seen: list[str] = []
    async with TestServer(_recording_app(seen), host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        scenario = scenarios.scaled(scenarios.load(SCENARIOS / "ci-small.toml"), 60)
        buyers = _buyers(60)
        async with SourceClients(url, addresses=16) as clients:
            generator = LoadGenerator(clients, Progress(60, "t"))
            await generator.run(scenario, plan(scenario, buyers, [7], "t", 1), [])
    addresses = {ipaddress.ip_address(a) for a in seen}
    assert len(seen) >= 60 and len(addresses) == 16
    assert all(a in ipaddress.ip_network("127.0.0.0/8") for a in addresses)
    # One buyer, one address: a buyer's requests stay on its connection's address.
    assert {s.status for s in generator.samples} == {409}


async def test_a_remote_gateway_is_reached_from_the_default_address() -> None:
    async with SourceClients("http://192.0.2.1:8080", addresses=16) as clients:
        assert clients.addresses == [None]


async def test_connections_per_address_bounds_what_each_address_holds_open() -> None:
    # As a load balancer's pool in front of the gateways: requests past the bound wait for
    # one of the address's connections instead of opening another.
    open_now, most = 0, 0
    release = asyncio.Event()
    ports: set[int] = set()

    async def slow(request: web.Request) -> web.Response:
        nonlocal open_now, most
        assert request.transport is not None
        ports.add(request.transport.get_extra_info("peername")[1])
        open_now += 1
        most = max(most, open_now)
        if open_now == 2:
            release.set()  # both connections are busy: let them finish
        await release.wait()
        open_now -= 1
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/slow", slow)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        async with SourceClients(url, addresses=1, connections=2) as clients:
            session = clients.session(0)

            async def get() -> int:
                async with session.get(f"{url}/slow") as resp:
                    return resp.status

            statuses = await asyncio.gather(*(get() for _ in range(6)))
    assert statuses == [200] * 6
    assert most == 2 and len(ports) == 2  # six requests over two connections
