"""Transports by name, imported lazily: `create_transport(settings, ...)`."""

from __future__ import annotations

import asyncio
import importlib

from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.runtime import ShardStore
from engine.settings import Settings
from engine.transport.base import Transport
from engine.types import Clock, Sleeper, utcnow

#: name -> "module:factory"; the factory takes (settings, notifications, *, metrics, store).
TRANSPORTS = {
    "inproc": "engine.transport.inproc:create",
    "rabbitmq": "engine.transport.amqp.publisher:create",
}


def create_transport(settings: Settings, notifications: Notifications, *, metrics: Metrics,
                     store: ShardStore | None = None, clock: Clock = utcnow,
                     sleeper: Sleeper = asyncio.sleep) -> Transport:
    """The gateway side of the transport that `settings.transport` names; what it receives
    goes to `notifications`. In-process, the shard actors run behind it, write through
    `store` and keep hold deadlines on `clock` (tests move it)."""
    module_name, _, attr = TRANSPORTS[settings.transport].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    if settings.transport == "inproc":
        transport: Transport = factory(settings, notifications, metrics=metrics, store=store,
                                       clock=clock, sleeper=sleeper)
    else:  # the actors run in shard workers, on their own clock
        transport = factory(settings, notifications, metrics=metrics, store=store)
    return transport
