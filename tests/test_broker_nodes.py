"""AMQP_URL naming several nodes of one RabbitMQ cluster (engine/transport/amqp/nodes.py):
a client starts on the first node that answers, and one that loses its node reconnects to
the next instead of waiting for its own to come back."""

from __future__ import annotations

import socket

import pytest

from engine.errors import BrokerUnreachable
from engine.settings import Secret
from engine.transport.amqp import Names
from engine.transport.amqp.nodes import split_urls
from engine.transport.amqp.topology import open_topology
from tests.conftest import AMQP_PREFIX, SHARDS, TEST_AMQP_URL
from tests.faultproxy import FaultProxy
from tests.helpers import assert_eventually

NAMES = Names(AMQP_PREFIX, SHARDS)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _via(port: int, query: str = "") -> str:
    return TEST_AMQP_URL.replace(":5672/", f":{port}/") + query


def test_amqp_url_splits_on_commas() -> None:
    assert split_urls(" amqp://a/ , amqp://b/,") == ["amqp://a/", "amqp://b/"]
    assert split_urls(TEST_AMQP_URL) == [TEST_AMQP_URL]


async def test_a_client_starts_on_the_first_node_that_answers() -> None:
    url = Secret(f"{_via(_closed_port())},{TEST_AMQP_URL}")
    connection, channel, _ = await open_topology(url, "test-nodes", NAMES)
    try:
        assert connection.url.port == 5672
        assert not channel.is_closed
    finally:
        await connection.close()


async def test_no_node_answering_names_every_one_tried() -> None:
    a, b = _closed_port(), _closed_port()
    with pytest.raises(BrokerUnreachable, match=f"127.0.0.1:{a} .*127.0.0.1:{b} "):
        await open_topology(Secret(f"{_via(a)},{_via(b)}"), "test-nodes", NAMES)


async def test_a_client_that_loses_its_node_reconnects_to_the_next() -> None:
    async with FaultProxy("127.0.0.1", 5672) as first, \
            FaultProxy("127.0.0.1", 5672) as second:
        quick = "?reconnect_interval=0.2"
        url = Secret(f"{_via(first.port, quick)},{_via(second.port, quick)}")
        connection, _, _ = await open_topology(url, "test-nodes", NAMES)
        try:
            assert (first.accepted, second.accepted) == (1, 0)
            await first.down()  # the node is gone; its port closes every new connection

            async def on_the_second() -> bool:
                return connection.connected.is_set() and connection.url.port == second.port

            await assert_eventually(on_the_second, timeout=20, interval=0.1,
                                    message="the client did not move to the next node")
            channel = await connection.channel()  # and it serves
            queue = await channel.declare_queue(exclusive=True)
            assert queue.name
        finally:
            await connection.close()
