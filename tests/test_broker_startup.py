"""Start-up against a broker that cannot serve, in process: the error classes, and the
drivers' logging left as it was found."""

from __future__ import annotations

import asyncio
import logging

import pytest

from engine.errors import BrokerUnreachable
from engine.settings import Secret
from engine.transport.amqp.topology import Names, open_topology
from tests.helpers import free_port


def _closed_port_url() -> Secret:
    return Secret(f"amqp://guest:guest@127.0.0.1:{free_port()}/")


async def test_concurrent_failed_starts_leave_the_driver_log_levels_alone() -> None:
    loggers = [logging.getLogger(name) for name in ("aiormq", "aio_pika")]
    before = [logger.level for logger in loggers]
    names = Names("tw-unused", 1)
    results = await asyncio.gather(
        *(open_topology(_closed_port_url(), f"test-{i}", names) for i in range(3)),
        return_exceptions=True)
    assert all(isinstance(r, BrokerUnreachable) for r in results), results
    assert [logger.level for logger in loggers] == before


async def test_unreachable_broker_error_says_where_and_how_to_fix() -> None:
    url = _closed_port_url()
    with pytest.raises(BrokerUnreachable) as caught:
        await open_topology(url, "test", Names("tw-unused", 1))
    assert caught.value.code == "broker_unreachable"
    assert url.reveal().rsplit(":", 1)[1].rstrip("/") in caught.value.message
    assert "AMQP_URL" in caught.value.hint
