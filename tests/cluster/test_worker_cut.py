"""A shard worker host cut from the brokers mid-surge, through both gateways of the
namespace cluster (ops/cluster/): its shards' standbys take over, and when it is healed it
rejoins on its own; the surge checker's verdict is clean (nothing oversold, lost, pending,
or answered unlike the database)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ops.cluster import netns, services, topology
from ops.cluster.state import State
from tests.helpers import assert_eventually

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


async def ticketwar(state_dir: Path, *args: str) -> str:
    """`ticketwar cluster ARGS`; its output (fails the test when it fails)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ops.cli", "cluster", "--state-dir", str(state_dir), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"ticketwar cluster {' '.join(args)}:\n{text[-3000:]}"
    return text


@pytest.fixture
async def cluster() -> AsyncIterator[Path]:
    """A cluster up for the test, and down (every namespace gone) after it, whatever
    happened. Its state in a temporary directory PostgreSQL's user can reach."""
    state_dir = Path(tempfile.mkdtemp(prefix="ticketwar-cluster-"))
    os.chmod(state_dir, 0o755)
    started = time.monotonic()
    try:
        await ticketwar(state_dir, "up")
        print(f"cluster up in {time.monotonic() - started:.1f}s")
        yield state_dir
    finally:
        await ticketwar(state_dir, "down")
        assert netns.ours() == [], "namespaces left after down"
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.mark.timeout(480)  # bringing up ten hosts, a 40 s surge, the settling and down
async def test_a_worker_cut_from_the_brokers_mid_surge_loses_nothing(cluster: Path) -> None:
    state = State.load(cluster)
    assert state is not None
    status = await ticketwar(cluster, "status")
    shard_lines = [line for line in status.splitlines() if ".shard." in line]
    nodes = [topology.rabbit_node(mq) for mq in topology.of_role("rabbitmq")]
    assert len(shard_lines) == topology.SHARDS
    for line in shard_lines:  # quorum queues, a replica on every node, every worker there
        assert "(quorum): 3 consumers" in line and all(n in line for n in nodes), line

    w1, mq1 = topology.host("w1"), topology.host("mq1")
    assert services.broker_for(w1, topology.of_role("rabbitmq")) == mq1

    async def w1_on_mq1() -> bool:
        peers = await asyncio.to_thread(services.connection_peers, state, mq1)
        return w1.address("broker") in peers

    assert await w1_on_mq1()
    load = await asyncio.create_subprocess_exec(
        *services.in_namespace(topology.host("load"), [
            sys.executable, "-m", "ops.cluster.load", "--state-dir", str(cluster),
            "--rate", "40", "--seconds", "40"]),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert load.stdout is not None
    started = time.monotonic()
    try:
        async with asyncio.timeout(120):  # the surge sells: cut in the middle of it
            while not (await load.stdout.readline()).startswith(b"booked"):
                assert load.returncode is None, "the load ended before selling"
        await ticketwar(cluster, "cut", "w1", "--from", "broker")
        cut_at = time.monotonic()
        assert "broker" in next(line for line in (await ticketwar(cluster, "status"))
                                .splitlines() if line.startswith("w1 "))

        async def dropped() -> bool:
            return not await w1_on_mq1()

        # The broker notices the silence (two missed 5 s heartbeats) and hands w1's
        # shards to their standbys.
        await assert_eventually(dropped, timeout=60, interval=0.5,
                                message="mq1 kept the cut worker's connection")
        print(f"broker dropped the cut worker after {time.monotonic() - cut_at:.1f}s")
        await ticketwar(cluster, "heal", "w1")
        await assert_eventually(w1_on_mq1, timeout=90, interval=0.5,
                                message="the healed worker did not reconnect by itself")
        async with asyncio.timeout(240):
            out, _ = await load.communicate()
    finally:
        if load.returncode is None:
            load.kill()
            await load.wait()
    print(f"surge (with the cut) took {time.monotonic() - started:.1f}s")
    results = [json.loads(line.split(" ", 1)[1]) for line in out.decode().splitlines()
               if line.startswith("result ")]
    assert len(results) == 2  # one surge through each gateway
    for r in results:
        print(f"verdict {r['strategy']}: {r['requests']} requests, answers {r['statuses']}, "
              f"{r['confirmed_seats']} seats confirmed, {r['oversold_seats']} oversold, "
              f"violations {r['violations'] or 'none'}")
        assert r["oversold_seats"] == 0 and r["violations"] == [] and r["confirmed_seats"] > 0
    assert load.returncode == 0

    async def every_worker_consumes() -> bool:
        queues = await asyncio.to_thread(services.queue_table, state, mq1)
        return all(q[2] == str(topology.WORKERS) for q in queues if ".shard." in q[0])

    # The healed worker is back as a consumer of every shard queue (active or standby).
    await assert_eventually(every_worker_consumes, timeout=30, interval=0.5,
                            message="the healed worker does not consume every shard queue")
