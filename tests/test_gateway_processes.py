"""The gateway on every core: `ticketwar run` with RabbitMQ serves through GATEWAY_PROCESSES
processes on one port (SO_REUSEPORT), supervised beside the shard workers.

One stack for the module: two gateway processes and one shard worker on real PostgreSQL
and RabbitMQ, PORT=0. Every request here opens a connection of its own, so the kernel
spreads them over both processes (it hashes each connection's addresses and ports); what
must hold on *every* process is then checked on each process's own metrics port.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.auth import TokenIssuer
from engine.settings import Secret, Settings
from engine.types import Role
from ops.soak import gateway_rss_mib, rss_mib
from tests.conftest import TEST_AMQP_URL, TEST_DATABASE_URL
from tests.factories import create_accounts
from tests.helpers import assert_eventually, free_port_pair
from tests.worker import delete_namespace

pytestmark = pytest.mark.slow

PROCESSES = 2
SHARDS = 4
#: Enough rounds that both processes take part: each new connection lands on either.
ROUNDS = 16


@dataclass
class Stack:
    """`ticketwar run` as started here: its process, its output, where it serves."""

    proc: asyncio.subprocess.Process
    log: Path
    url: str
    metrics_port: int
    issuer: TokenIssuer

    def output(self) -> str:
        """Everything it (and its children) printed so far."""
        return self.log.read_text(errors="replace")

    def pids(self, role: str) -> dict[int, int]:
        """Child index -> pid of its latest start, from the supervisor's log."""
        found = re.findall(rf"{role} (\d+) started \(pid (\d+)\)", self.output())
        return {int(index): int(pid) for index, pid in found}

    async def metric(self, index: int, name: str) -> float:
        """The sum of a metric's samples on gateway process `index`'s own port."""
        url = f"http://127.0.0.1:{self.metrics_port + index}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            text = await resp.text()
        return sum(s.value for family in text_string_to_metric_families(text)
                   for s in family.samples if s.name == name)


def _fresh() -> aiohttp.ClientSession:
    """A client that opens a new connection for every request."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


@pytest.fixture(scope="module")
async def stack(db_pool: Any, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    data_dir = tmp_path_factory.mktemp("procs")
    prefix = f"tw-procs-{uuid.uuid4().hex[:8]}"
    metrics_port = free_port_pair()
    env = {k: v for k, v in os.environ.items()
           if k not in {"JWT_SECRET", "PORT", "LOG_LEVEL", "GATEWAY_PROCESSES"}}
    # No JWT_SECRET: the parent generates one into DATA_DIR, and every process must use it.
    env.update(DATABASE_URL=TEST_DATABASE_URL, AMQP_URL=TEST_AMQP_URL, AMQP_PREFIX=prefix,
               DATA_DIR=str(data_dir), SHARDS=str(SHARDS), SHARD_WORKERS="1",
               PAYMENT_PROVIDER="fake",  # a configured database needs one named
               GATEWAY_PROCESSES=str(PROCESSES), PORT="0", HOST="127.0.0.1",
               GATEWAY_METRICS_PORT=str(metrics_port), RATE_LIMIT_AUTH="4/minute",
               RATE_LIMIT_DEFAULT="100000/second", RATE_LIMIT_BOOKING="100000/second",
               SHUTDOWN_DEADLINE_SECONDS="10", LOG_LEVEL="INFO")
    log = data_dir / "run.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ops.cli", "run", env=env, stdout=out, stderr=out)
    try:
        async def announced() -> bool:
            assert proc.returncode is None, log.read_text()
            return re.search(r"open (http://\S+)", log.read_text()) is not None

        await assert_eventually(announced, timeout=90, interval=0.1)
        match = re.search(r"open (http://\S+)", log.read_text())
        assert match is not None
        secret = (data_dir / "jwt_secret").read_text().strip()
        issuer = TokenIssuer(Settings(database_url=Secret(TEST_DATABASE_URL),
                                      jwt_secret=Secret(secret)))
        yield Stack(proc, log, match.group(1), metrics_port, issuer)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await delete_namespace(TEST_AMQP_URL, prefix, SHARDS)


async def test_run_announces_the_real_url_once(stack: Stack) -> None:
    out = stack.output()
    assert re.findall(r"open (http://\S+)", out) == [stack.url]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", stack.url) and not stack.url.endswith(":0")
    assert f"transport: rabbitmq ({PROCESSES} gateway processes)" in out
    assert sorted(stack.pids("gateway")) == list(range(PROCESSES))
    async with _fresh() as http, http.get(f"{stack.url}/api/health") as resp:
        assert resp.status == 200


async def test_every_process_books_and_is_scraped_whole_on_its_own_port(
        stack: Stack, db_pool: Any) -> None:
    (vendor,) = await create_accounts(db_pool, stack.issuer, 1, Role.VENDOR)
    buyers = await create_accounts(db_pool, stack.issuer, ROUNDS)
    async with _fresh() as http:
        async with http.post(f"{stack.url}/api/events", headers=vendor.headers,
                             json={"name": "Every core", "totalTickets": 100}) as resp:
            assert resp.status == 201, await resp.text()
            event = await resp.json()
        statuses = []
        for buyer in buyers:  # each outcome must come back to the process that sent it
            async with http.post(f"{stack.url}/api/events/{event['id']}/book",
                                 headers=buyer.headers, json={"quantity": 1}) as resp:
                statuses.append(resp.status)
        assert statuses == [201] * ROUNDS
        async with http.get(f"{stack.url}/metrics") as resp:  # the shared port still serves
            assert resp.status == 200 and "ticketwar_up" in await resp.text()
    answered = [await stack.metric(i, "ticketwar_booking_requests_total")
                for i in range(PROCESSES)]
    assert sum(answered) == ROUNDS and all(answered), answered


async def test_a_stream_ticket_opens_a_stream_on_any_process(stack: Stack,
                                                             db_pool: Any) -> None:
    # One account per round: a closed stream gives its place under MAX_STREAMS_PER_USER
    # back only when the server notices, up to a second later.
    accounts = await create_accounts(db_pool, stack.issuer, ROUNDS)
    async with _fresh() as http:
        for account in accounts:  # issued by one process, verified by either
            async with http.post(f"{stack.url}/api/stream/ticket",
                                 headers=account.headers) as resp:
                assert resp.status == 200
                ticket = (await resp.json())["ticket"]
            async with http.get(f"{stack.url}/api/stream", params={"ticket": ticket}) as resp:
                assert resp.status == 200
                assert b": connected" in await resp.content.readuntil(b"connected")


async def test_a_revoked_session_is_refused_by_every_process(stack: Stack,
                                                             db_pool: Any) -> None:
    (account,) = await create_accounts(db_pool, stack.issuer, 1)
    before = [await stack.metric(i, "ticketwar_sessions_refused_total")
              for i in range(PROCESSES)]
    async with _fresh() as http:
        async with http.post(f"{stack.url}/api/auth/logout-all",
                             headers=account.headers) as resp:
            assert resp.status in (200, 204)

        async def refused_everywhere() -> bool:
            statuses = []
            for _ in range(ROUNDS):
                async with http.get(f"{stack.url}/api/me/tickets",
                                    headers=account.headers) as resp:
                    statuses.append(resp.status)
            return statuses == [401] * ROUNDS

        await assert_eventually(refused_everywhere, timeout=10, interval=0.1)
    after = [await stack.metric(i, "ticketwar_sessions_refused_total")
             for i in range(PROCESSES)]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


async def test_the_login_limit_holds_for_the_host_not_per_process(stack: Stack) -> None:
    """RATE_LIMIT_AUTH=4/minute: each of the two processes allows 2 per address."""
    statuses = []
    async with _fresh() as http:
        for i in range(3 * 4):  # other emails each time: only the address limit applies
            async with http.post(f"{stack.url}/api/auth/login", json={
                    "email": f"nobody{i}@procs.example", "password": "wrong-password"}) as resp:
                statuses.append(resp.status)
    assert statuses.count(429) >= 3 * 4 - 4, statuses
    assert set(statuses) <= {401, 429}, statuses


async def test_a_killed_gateway_process_is_restarted(stack: Stack) -> None:
    victim = stack.pids("gateway")[0]
    os.kill(victim, signal.SIGKILL)

    async def replaced() -> bool:
        return stack.pids("gateway")[0] != victim

    await assert_eventually(replaced, timeout=20, interval=0.1)

    async def serving() -> bool:
        try:
            return await stack.metric(0, "ticketwar_up") == 1
        except aiohttp.ClientError:
            return False

    await assert_eventually(serving, timeout=30, interval=0.1)
    assert f"gateway 0 (pid {victim}) exited with -9" in stack.output()
    async with _fresh() as http:
        for _ in range(ROUNDS):
            async with http.get(f"{stack.url}/api/health") as resp:
                assert resp.status == 200


def test_the_soak_weighs_the_gateway_processes_not_their_supervisor(stack: Stack) -> None:
    gateways = sum(rss_mib(pid) for pid in stack.pids("gateway").values())
    assert gateway_rss_mib(stack.proc.pid) == pytest.approx(gateways, rel=0.05)
    assert rss_mib(stack.proc.pid) < gateways * 0.75  # what `make soak` read before


async def test_sigterm_stops_gateways_then_workers_within_the_deadline(stack: Stack) -> None:
    children = [*stack.pids("gateway").values(), *stack.pids("shard worker").values()]
    stack.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(stack.proc.wait(), 40) == 0, stack.output()[-3000:]
    out = stack.output()
    assert out.index("gateway processes stopped") < out.index("stopping 1 shard worker")
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    port = int(stack.url.rsplit(":", 1)[1])
    with socket.socket() as probe:  # the port is free again: nobody listens or holds it
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAITs
        probe.bind(("127.0.0.1", port))
