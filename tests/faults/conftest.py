"""A whole stack per fault test: the gateway in this process, two shard worker processes
under the real supervisor, on their own broker namespace — so a test can kill them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from engine.settings import Secret, Settings
from engine.transport.amqp import Names
from gateway.app import create_app
from ops.supervisor import WorkerSupervisor
from tests.conftest import TEST_AMQP_URL, TEST_DATABASE_URL
from tests.helpers import Api, assert_eventually
from tests.worker import delete_namespace

SHARDS, WORKERS = 4, 2


@dataclass
class FaultStack:
    """What a fault test can reach: the supervisor, the gateway factory, the names."""

    supervisor: WorkerSupervisor
    names: Names
    make_api: Callable[..., Any]


async def consumers(names: Names) -> list[int]:
    """Consumers registered on each shard queue, active and standby (a passive declare
    counts only the single active one, so ask rabbitmqctl)."""
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", "list_queues", "name", "consumers",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    found = dict(line.split("\t") for line in out.decode().splitlines() if "\t" in line)
    return [int(found.get(name, 0)) for name in names.all_shards()]


@pytest.fixture
async def fault_stack(db_pool: Any, aiohttp_client: Any, make_settings: Callable[..., Settings],
                      request: pytest.FixtureRequest) -> AsyncIterator[FaultStack]:
    """Start workers (optionally with `first_start_env` from the `stack_env` marker)."""
    prefix = f"tw-fault-{uuid.uuid4().hex[:8]}"
    names = Names(prefix, SHARDS)
    marker = request.node.get_closest_marker("stack_env")
    first = marker.kwargs.get("first_start_env", {}) if marker else {}
    supervisor = WorkerSupervisor(WORKERS, worker_env(prefix), grace_seconds=10,
                                  first_start_env=first)
    await supervisor.start()
    try:
        await every_worker_consumes(names, WORKERS)
        yield FaultStack(supervisor, names, api_factory(prefix, make_settings, aiohttp_client))
    finally:
        await supervisor.stop()
        await delete_namespace(TEST_AMQP_URL, prefix, SHARDS)


def worker_env(prefix: str) -> dict[str, str]:
    """The environment of a fault stack's shard workers, on their own broker namespace."""
    return {**os.environ, "DATABASE_URL": TEST_DATABASE_URL, "AMQP_URL": TEST_AMQP_URL,
            "AMQP_PREFIX": prefix, "SHARDS": str(SHARDS), "RECONNECT_DEADLINE_SECONDS": "120"}


async def every_worker_consumes(names: Names, workers: int) -> None:
    """Wait until every worker is active on its own queues and standby on the others."""
    async def everyone_consumes() -> bool:
        return all(n >= workers for n in await consumers(names))
    await assert_eventually(everyone_consumes, timeout=30, interval=0.3,
                            message="shard workers did not start consuming")


def api_factory(prefix: str, make_settings: Callable[..., Settings],
                aiohttp_client: Any) -> Callable[..., Any]:
    """`make_api(**overrides)`: a gateway in this process on the stack's namespace."""
    async def make_api(**overrides: Any) -> Api:
        overrides = {"amqp_url": Secret(TEST_AMQP_URL), "amqp_prefix": prefix,
                     "shards": SHARDS, **overrides}
        app = create_app(make_settings(**overrides))
        return Api(await aiohttp_client(app), app)
    return make_api


async def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl; fail the test if it fails."""
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
