"""The shard runtime: N shard actors in one process, sharing one store and one outlet."""

from __future__ import annotations

import asyncio
import logging

from engine.metrics import Metrics
from engine.runtime.actor import ShardActor, ShardStore
from engine.transport.base import Envelope, Outlet
from engine.types import Clock, utcnow

log = logging.getLogger(__name__)


class ShardRuntime:
    """Owns the actors of the shards this process runs; `drain()` is the test barrier."""

    def __init__(self, store: ShardStore, *, shards: int, clock: Clock = utcnow,
                 max_batch: int = 1024, metrics: Metrics | None = None) -> None:
        self.shards = shards
        self.metrics = metrics or Metrics()
        self._store, self._clock, self._max_batch = store, clock, max_batch
        self.actors: list[ShardActor] = []
        #: Set when an actor died of an unexpected error: the process should exit.
        self.failed = asyncio.Event()

    def submit(self, shard: int, envelope: Envelope) -> None:
        """Hand an envelope to a shard's actor."""
        self.actors[shard].submit(envelope)

    def backlog(self, shard: int) -> int:
        """Envelopes waiting in a shard's mailbox."""
        return self.actors[shard].backlog

    async def start(self, outlet: Outlet) -> None:
        """Start one actor per shard answering through `outlet`, watching each for death.

        The outlet is given here, not at construction, because the transport that is the
        outlet is itself built around this runtime.
        """
        if self.actors:
            return
        self.actors = [ShardActor(n, self._store, outlet, clock=self._clock,
                                  max_batch=self._max_batch, metrics=self.metrics)
                       for n in range(self.shards)]
        for actor in self.actors:
            await actor.start()
            actor.on_death(self._on_actor_done)

    def _on_actor_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("shard actor %s died: %r", task.get_name(), task.exception())
            self.failed.set()

    async def drain(self) -> None:
        """Return when every mailbox is empty and every batch is committed and answered.

        Loops because a drained actor can be handed forwarded commands by another.
        """
        while any(a.busy for a in self.actors):
            await asyncio.gather(*(a.drain() for a in self.actors))

    async def stop(self) -> None:
        """Ordered: each actor finishes its batch in flight, then stops."""
        await asyncio.gather(*(a.stop() for a in self.actors))
