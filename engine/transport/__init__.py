"""Transports carry booking commands to shard actors and outcomes back, behind one Protocol.

Implementations are picked by name and imported lazily, so the in-process default never
imports aio-pika.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from engine.transport.base import Envelope, Outlet, Transport, shard_for

if TYPE_CHECKING:
    from engine.metrics import Metrics
    from engine.runtime import ShardRuntime
    from engine.settings import Settings

#: name -> "module:factory"; the factory takes (settings, runtime-or-None).
TRANSPORTS = {
    "inproc": "engine.transport.inproc:InprocTransport",
    "rabbitmq": "engine.transport.amqp:AmqpTransport",
}


def create_transport(settings: Settings, runtime: ShardRuntime | None, *,
                     metrics: Metrics | None = None) -> Transport:
    """Build the transport that `settings.transport` names."""
    module_name, _, attr = TRANSPORTS[settings.transport].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    transport: Transport = factory(settings, runtime, metrics=metrics)
    return transport


__all__ = ["Envelope", "Outlet", "Transport", "create_transport", "shard_for"]
