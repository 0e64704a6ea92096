"""The shard runtime: N shard actors in one process, sharing one store and one outlet."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from functools import partial

from engine.errors import Unavailable
from engine.messages import WakeCommand
from engine.metrics import Metrics
from engine.runtime.actor import ShardActor, ShardStore
from engine.transport.base import Envelope, Outlet
from engine.types import Clock, Sleeper, utcnow

log = logging.getLogger(__name__)

#: An actor that dies is started again, up to this many deaths within RESTART_WINDOW
#: seconds; past that something is broken for good, and the process should exit (`failed`).
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
#: How often a worker looks for holds nobody expired, and how late one must be to count.
SWEEP_SECONDS = 0.25
SWEEP_GRACE_SECONDS = 0.5


class ShardRuntime:
    """Owns the actors of the shards this process runs; `drain()` is the test barrier."""

    def __init__(self, store: ShardStore, *, shards: int, clock: Clock = utcnow,
                 sleeper: Sleeper = asyncio.sleep, max_batch: int = 1024,
                 metrics: Metrics | None = None) -> None:
        self.shards = shards
        self.metrics = metrics or Metrics()
        self.store = store
        self._clock, self._sleeper, self._max_batch = clock, sleeper, max_batch
        self.actors: list[ShardActor] = []
        self._outlet: Outlet | None = None
        self._deaths: list[float] = []
        self._stopping = False
        #: Set when actors keep dying (MAX_RESTARTS): the process should exit.
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
        self._outlet = outlet
        self.actors = [self._spawn(n) for n in range(self.shards)]

    def _spawn(self, shard: int) -> ShardActor:
        assert self._outlet is not None
        actor = ShardActor(shard, self.store, self._outlet, clock=self._clock,
                           sleeper=self._sleeper, max_batch=self._max_batch,
                           metrics=self.metrics)
        actor.begin()
        actor.on_death(partial(self._on_actor_done, actor))
        return actor

    def _on_actor_done(self, actor: ShardActor, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None or self._stopping:
            return
        log.error("shard actor %s died: %r", task.get_name(), task.exception())
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW] + [now]
        if len(self._deaths) > MAX_RESTARTS:
            log.error("%d shard actor deaths within %.0fs: not restarting", len(self._deaths),
                      RESTART_WINDOW)
            self.failed.set()
            return
        # Its successor decides what it held: the batch in flight again (checked against the
        # database first), then its mailbox, in order. Never a command left waiting forever.
        self.metrics.actor_restarts.inc()
        successor = self.actors[actor.shard] = self._spawn(actor.shard)
        for envelope in actor.unfinished():
            successor.submit(envelope)
        # Its events' hold deadlines died with it: the successor claims them and re-arms.
        for event_id in actor.events():
            successor.submit(Envelope([WakeCommand(event_id)]))

    async def wake_holds(self) -> None:
        """After start (and once the outlet can forward): send a wake-up for every event
        with open holds to its owner, which claims it, expires what is overdue and arms the
        rest. Without it, a restarted worker would learn of an event's holds only when the
        event next gets a command. Best effort: the database away, a warning."""
        assert self._outlet is not None, "wake_holds before start"
        try:
            event_ids = await self.store.events_with_holds()
        except Unavailable as exc:
            log.warning("open holds not woken at start: %s", exc.message)
            return
        if event_ids:
            await self._outlet.forward([WakeCommand(e) for e in event_ids])

    async def sweep_overdue_holds(self, every: float = SWEEP_SECONDS,
                                  grace: float = SWEEP_GRACE_SECONDS) -> None:
        """Until stopped: every `every` seconds, wake the owner of each event with a hold
        more than `grace` seconds past its deadline, or a waiting room past its next due
        moment (`queue_rooms.due_at`: an opening, an expiry, an admission of the pace).

        An owner expires its holds from its own timers; this is for the events nobody arms.
        When a worker's host vanishes, the broker hands its queues to a standby, but
        nothing tells the standby that those events have holds: it would claim them only at
        their next command, and with no restart there is no `wake_holds` either. A hold
        that outlives its deadline by `grace` means no owner is watching it; the wake goes
        through the exchange to whoever consumes the event's queue now, which claims the
        event, expires what is overdue and arms the rest. So an expiry comes at most about
        `grace + every` late after a failover. A busy but living owner may get a wake it did
        not need: it costs it one command."""
        assert self._outlet is not None, "sweep_overdue_holds before start"
        while not self._stopping:
            await self._sleeper(every)
            if self._stopping:
                return
            try:
                overdue = await self.store.events_with_holds(
                    self._clock() - timedelta(seconds=grace))
                if overdue:
                    log.info("waking the owners of %d events with overdue timers", len(overdue))
                    await self._outlet.forward([WakeCommand(e) for e in overdue])
            except Unavailable as exc:  # the database or broker away: the next round
                log.warning("overdue holds not swept: %s", exc.message)
            except Exception:  # noqa: BLE001 - a safety net must not take its worker down
                log.exception("overdue holds not swept")

    async def drain(self) -> None:
        """Return when every mailbox is empty and every batch is committed and answered.

        Loops because a drained actor can be handed forwarded commands by another.
        """
        while any(a.busy for a in self.actors):
            await asyncio.gather(*(a.drain() for a in self.actors))

    async def stop(self, deadline: float | None = None) -> bool:
        """Ordered: each actor finishes its batch in flight, then stops. With a deadline, a
        batch still unfinished by then (the database away) is abandoned — over RabbitMQ the
        broker redelivers it — and the answer is False."""
        self._stopping = True
        stops = [asyncio.ensure_future(a.stop()) for a in self.actors]
        if not stops:
            return True
        _, late = await asyncio.wait(stops, timeout=deadline)
        for task in late:
            task.cancel()  # cancels the batch it awaits, too
        await asyncio.gather(*late, return_exceptions=True)
        if late:
            log.error("%d shard actors did not finish within %.1fs", len(late), deadline or 0)
        return not late
