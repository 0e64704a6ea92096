"""A shard worker host cut mid-surge, through both gateways of the namespace cluster
(ops/cluster/): first from the brokers only (it still reaches PostgreSQL: the case fencing
exists for), then from everything. Its shards' standbys on the other hosts take over; healed,
it rejoins on its own; the verdict is clean (nothing oversold, lost, decided twice, pending,
or answered unlike the database)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from ops.cluster import services, topology
from tests.cluster.cluster import Surge, load_state, node_of, rejoined, ticketwar
from tests.helpers import assert_eventually

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


async def _busiest_worker(cluster: Path) -> topology.Host:
    """The worker active for the most shard queues: a worker cut in an earlier test became
    standby for all of its shards (a single active consumer stays where it moved)."""
    active = await asyncio.to_thread(services.active_consumers, load_state(cluster),
                                     topology.host("mq1"))
    shards = Counter(peer for queue, peer in active.items() if ".shard." in queue)
    w = max(topology.of_role("worker"), key=lambda w: shards[w.address("broker")])
    print(f"active shard queues by worker address: {dict(shards)}; cutting {w.name}")
    assert shards[w.address("broker")] > 0
    return w


async def _cut_worker(cluster: Path, *networks: str) -> None:
    w = await _busiest_worker(cluster)
    name = w.name
    home = await node_of(cluster, w)
    assert home is not None, f"{name} has no broker connection"

    async def dropped() -> bool:
        return await node_of(cluster, w) is None

    async def reconnected() -> bool:
        return await node_of(cluster, w) is not None

    async with Surge(cluster) as surge:
        await surge.selling()
        await ticketwar(cluster, "cut", name, *networks)
        cut_at = time.monotonic()
        cut_line = next(line for line in (await ticketwar(cluster, "status")).splitlines()
                        if line.startswith(f"{name} "))
        assert "broker" in cut_line and ("database" in cut_line) == (not networks), cut_line
        # The broker notices the silence (two missed 5 s heartbeats) and hands the cut
        # worker's shards to their standbys.
        await assert_eventually(dropped, timeout=90, interval=0.5,
                                message=f"{home} kept the cut worker's connection")
        print(f"broker dropped {name} after {time.monotonic() - cut_at:.1f}s")
        await ticketwar(cluster, "heal", name)
        # Back on a node of its own accord (any node: it tried each in turn while cut).
        await assert_eventually(reconnected, timeout=90, interval=0.5,
                                message=f"the healed {name} did not reconnect by itself")
        r = await surge.result()
    assert r["taken_over"] > 0, "no standby took over an event of the cut worker"
    await rejoined(cluster)


@pytest.mark.timeout(600)  # the first cluster test also pays for `cluster up`
async def test_a_worker_cut_from_the_brokers_mid_surge_loses_nothing(cluster: Path) -> None:
    status = await ticketwar(cluster, "status")
    shard_lines = [line for line in status.splitlines() if ".shard." in line]
    nodes = [topology.rabbit_node(mq) for mq in topology.of_role("rabbitmq")]
    assert len(shard_lines) == topology.SHARDS
    for line in shard_lines:  # quorum queues, a replica on every node, every worker there
        assert "(quorum): 3 consumers" in line and all(n in line for n in nodes), line
    await _cut_worker(cluster, "--from", "broker")


@pytest.mark.timeout(600)  # the first cluster test also pays for `cluster up`
async def test_a_worker_cut_off_entirely_mid_surge_loses_nothing(cluster: Path) -> None:
    await _cut_worker(cluster)


@pytest.mark.timeout(600)
async def test_a_worker_cut_past_its_reconnect_deadline_is_started_again(cluster: Path) -> None:
    # Cut off longer than RECONNECT_DEADLINE_SECONDS, the worker gives up and exits (its
    # shards are the standbys' by then); its host's keeper starts it again, and once healed
    # the new process joins the cluster on its own — nobody restarts anything by hand.
    w = await _busiest_worker(cluster)
    log = load_state(cluster).host_dir(w.name) / "shards.log"
    starts, exits = (log.read_text().count(s) for s in (" started (pid ", " exited with "))

    def exited() -> bool:
        return log.read_text().count(" exited with ") > exits

    async with Surge(cluster, seconds=45) as surge:
        await surge.selling()
        await ticketwar(cluster, "cut", w.name)
        cut_at = time.monotonic()

        async def gave_up() -> bool:
            return await asyncio.to_thread(exited)

        await assert_eventually(gave_up, timeout=120, interval=0.5,
                                message=f"the cut {w.name} never gave up on RabbitMQ")
        print(f"{w.name} exited {time.monotonic() - cut_at:.1f}s after the cut")
        await ticketwar(cluster, "heal", w.name)

        async def back() -> bool:
            return (log.read_text().count(" started (pid ") > starts
                    and await node_of(cluster, w) is not None)

        await assert_eventually(back, timeout=90, interval=0.5,
                                message=f"{w.name} was not started again, or never reconnected")
        r = await surge.result()
    assert r["taken_over"] > 0, "no standby took over an event of the cut worker"
    await rejoined(cluster)
