"""Several RabbitMQ nodes of one cluster behind one AMQP_URL: `amqp://a/,amqp://b/,…`.

Every node of a cluster serves every queue (quorum queues are replicated, a client reaches
a queue's leader through whichever node it is connected to), so a client that loses its
node should go to another one rather than wait for its own to come back. The connection
starts at the first node that answers, and each reconnect attempt after that goes to the
next node in turn: a node cut off from its clients costs one reconnect, not the outage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aio_pika
from yarl import URL


def split_urls(value: str) -> list[str]:
    """The node URLs of an AMQP_URL (comma-separated; one URL is the usual case)."""
    return [u.strip() for u in value.split(",") if u.strip()]


class NodesConnection(aio_pika.RobustConnection):
    """A robust connection that moves to the next node at each reconnect attempt."""

    def __init__(self, url: URL, *args: Any, **kwargs: Any) -> None:
        nodes: Sequence[str] = kwargs.pop("nodes", ())
        super().__init__(url, *args, **kwargs)
        self._nodes = [URL(u) for u in nodes] or [self.url]
        self._at = self._nodes.index(self.url) if self.url in self._nodes else 0
        self._attempts = 0

    async def _RobustConnection__connect_transport(self) -> None:  # noqa: N802
        # aio-pika's one place where a (re)connect attempt starts (a name-mangled private
        # method, overridden by its mangled name): the first attempt uses the URL the
        # connection was made with, each later one the next node's.
        if self._attempts:
            self._at = (self._at + 1) % len(self._nodes)
            self.url = self._nodes[self._at]
        self._attempts += 1
        await super()._RobustConnection__connect_transport()  # type: ignore[misc]
