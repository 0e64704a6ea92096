"""Transports by name, imported lazily: `create_transport(settings, ...)`."""

from __future__ import annotations

import importlib

from engine.metrics import Metrics
from engine.notifications import Notifications
from engine.runtime import ShardStore
from engine.settings import Settings
from engine.transport.base import Transport

#: name -> "module:factory"; the factory takes (settings, notifications, *, metrics, store).
TRANSPORTS = {
    "inproc": "engine.transport.inproc:create",
    "rabbitmq": "engine.transport.amqp.publisher:create",
}


def create_transport(settings: Settings, notifications: Notifications, *, metrics: Metrics,
                     store: ShardStore | None = None) -> Transport:
    """The gateway side of the transport that `settings.transport` names; what it receives
    goes to `notifications`. In-process, the shard actors run behind it and write through
    `store`."""
    module_name, _, attr = TRANSPORTS[settings.transport].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    transport: Transport = factory(settings, notifications, metrics=metrics, store=store)
    return transport
