"""A RabbitMQ node cut off mid-surge (fault (b)): the node the gateways are connected to.
The other two keep the quorum queues' majority; the cut node pauses itself (pause_minority);
the gateways and workers that were on it reconnect to another node and go on — a gateway's
reply and stock queues, exclusive to its old connection and still known to the cluster
while the cut node's connections linger, must not stop it from receiving again. Healed,
the node rejoins without a hand restart (RabbitMQ's own recovery, or its host's broker
watch where that recovery gave up); the verdict is clean."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from ops.cluster import brokerwatch, services, topology
from tests.cluster.cluster import Surge, load_state, node_of, rejoined, ticketwar, watch_restarts
from tests.helpers import assert_eventually

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

#: A gateway's outcome messages received: they reach it only through its reply queue.
OUTCOMES = 'ticketwar_amqp_messages_total{direction="delivered",kind="outcomes"'


async def _outcomes(g: topology.Host) -> float:
    return await asyncio.to_thread(services.gateway_metric, g, OUTCOMES)


@pytest.mark.timeout(600)  # the first cluster test also pays for `cluster up`
async def test_a_broker_node_cut_mid_surge_loses_nothing(cluster: Path) -> None:
    gateways = topology.of_role("gateway")
    homes = {g.name: await node_of(cluster, g) for g in gateways}
    assert all(homes.values()), f"a gateway has no broker connection: {homes}"
    # The node most gateways are on: cutting it takes their replies and stock with it.
    cut = max(set(homes.values()), key=list(homes.values()).count)
    assert cut is not None
    on_it = [g for g in gateways if homes[g.name] == cut]
    print(f"gateways by node: {homes}; cutting {cut}")

    # Long enough to outlast the reconnect, and never sold out: a gateway answers a sold-out
    # event from memory, with no outcome to receive, which would prove nothing.
    async with Surge(cluster, seconds=45, seats_share=1.5) as surge:
        await surge.selling()
        await ticketwar(cluster, "cut", cut)
        cut_at = time.monotonic()
        for g in on_it:
            async def moved(g: topology.Host = g) -> bool:
                node = await node_of(cluster, g, tuple(
                    m.name for m in topology.of_role("rabbitmq") if m.name != cut))
                return node is not None

            await assert_eventually(moved, timeout=90, interval=0.5,
                                    message=f"{g.name} did not reconnect to another node")
            print(f"{g.name} on another node {time.monotonic() - cut_at:.1f}s after the cut")
            # Reconnected is not enough: its decisions must reach it again (a reply queue
            # left behind on the cut node answers every booking 202 after a 5 s wait).
            before = await _outcomes(g)

            async def receiving(g: topology.Host = g, before: float = before) -> bool:
                return await _outcomes(g) > before

            await assert_eventually(receiving, timeout=30, interval=0.5,
                                    message=f"{g.name} receives no outcome after reconnecting")
        r = await surge.result()
        await ticketwar(cluster, "heal", cut)
    print(f"answers per second: {r['per_second']}")
    # Room for the cut node's watch to restart it, should its own start hang.
    await rejoined(cluster, timeout=120 + brokerwatch.GRACE + brokerwatch.STOP_SECONDS)


@pytest.mark.timeout(300)
async def test_a_broker_node_down_in_sight_of_its_majority_is_restarted(cluster: Path) -> None:
    """What RabbitMQ 3.10's own recovery from a pause can leave behind on OTP 25: a node
    whose application is not running although it reaches the other two (its start hung in
    `global:sync()`). `stop_app` leaves a node the same way. Its broker watch restarts it
    once the grace has passed, and the cluster is whole again."""
    mq = topology.host("mq3")
    before = watch_restarts(cluster)[mq.name]
    await asyncio.to_thread(services.rabbitmqctl, load_state(cluster), mq, "stop_app")
    await rejoined(cluster, timeout=brokerwatch.GRACE + 90)
    assert watch_restarts(cluster)[mq.name] == before + 1


@pytest.mark.timeout(300)
async def test_a_broker_node_that_answers_no_connection_is_restarted(cluster: Path) -> None:
    """What CI met after a cut healed: a node whose VM went on running (60% of a core) and
    answered nothing — no AMQP handshake, no rabbitmqctl, its peers timing it out — while its
    port still took connections into the kernel's backlog. Frozen here with SIGSTOP, the
    same from outside. Its broker watch restarts it, and the cluster is whole again."""
    mq = topology.host("mq2")
    before = watch_restarts(cluster)[mq.name]
    out = await asyncio.to_thread(services.rabbitmqctl, load_state(cluster), mq, "eval",
                                  "os:getpid().")
    vm = int(out.strip().strip('"'))
    os.kill(vm, signal.SIGSTOP)
    try:
        async def restarted() -> bool:
            return watch_restarts(cluster)[mq.name] == before + 1

        await assert_eventually(
            restarted, interval=1, message=f"{mq.name} frozen, and not restarted",
            timeout=brokerwatch.GRACE + brokerwatch.LOOK_SECONDS + brokerwatch.STOP_SECONDS
            + brokerwatch.HANDSHAKE_SECONDS + 30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(vm, signal.SIGCONT)  # killed by its watch by now, unless it failed
    await rejoined(cluster, timeout=120)
    assert watch_restarts(cluster)[mq.name] == before + 1
