"""The waiting list's phase of a surge (`[waitlist]`, the `waitlist-rush` scenario): once the
sale is over, a crowd joins the sold-out events' waiting lists, a share of the ticket holders
cancel, and each waiting buyer who is offered seats takes them after a think, or walks away
and lets the offer expire and pass on.

A buyer learns of an offer here by reading PostgreSQL (a watcher over the run's events, every
`WATCH_EVERY` seconds) rather than through one stream per buyer: thousands of open streams
would measure the generator, not the engine. Everything the buyers do goes through the API.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import asyncpg

from ops.surge.load import LoadGenerator
from ops.surge.population import Account
from ops.surge.record import Sample
from ops.surge.scenario import Waitlist

#: How often the watcher looks for new offers (a buyer's reaction time is longer anyway).
WATCH_EVERY = 0.05
#: The golden ratio's fractional part: k * it mod 1 spreads any run of choices evenly over
#: [0, 1), so every share holds for small runs too (as for the holders of `load.py`).
_SPREAD = 0.6180339887498949

_OFFERS = """
    SELECT id::text AS id, user_id FROM bookings
    WHERE event_id = ANY($1::bigint[]) AND offer AND status = 'held'"""


def chosen(k: int, share: float) -> bool:
    """Whether the k-th of a run falls in the first `share` of it (evenly spread)."""
    return (k * _SPREAD) % 1.0 < share


@dataclass
class WaitlistRun:
    """What the phase did: the seats it returned (cancel id -> wall-clock time it was sent),
    the offers it saw, and how long the phase took."""

    cancels_sent: dict[str, float] = field(default_factory=dict)
    offers_seen: int = 0
    offers_taken: int = 0
    duration_s: float = 0.0
    #: The phase ran out of time with offers still open.
    timed_out: bool = False


class WaitlistRush:
    """Plays `[waitlist]` on the run's events with the generator that sent the sale."""

    def __init__(self, generator: LoadGenerator, pool: asyncpg.Pool, events: Sequence[int],
                 rules: Waitlist, *, concurrency: int, max_seconds: float) -> None:
        self._gen, self._pool, self._events = generator, pool, list(events)
        self._rules, self._concurrency, self._max_seconds = rules, concurrency, max_seconds
        self._owners: dict[int, Account] = {}
        self._seen: set[str] = set()
        self._takers: list[asyncio.Task[None]] = []
        self._returned = asyncio.Event()
        self.result = WaitlistRun()

    async def run(self, joiners: Sequence[Account],
                  holders: Sequence[tuple[Account, str]]) -> WaitlistRun:
        """Join with every joiner, cancel a share of `holders` (account, booking id), then
        serve the offers until none is open (bounded by the scenario's `max_seconds`)."""
        started = time.monotonic()
        deadline = started + self._max_seconds
        self._owners = {a.id: a for a in joiners}
        await self._paced([partial(self._join, i, a) for i, a in enumerate(joiners)],
                          deadline)
        cancels = [h for k, h in enumerate(holders) if chosen(k, self._rules.cancel_fraction)]
        watcher = asyncio.create_task(self._watch(deadline))
        try:
            await self._paced([partial(self._cancel, a, b) for a, b in cancels], deadline)
            self._returned.set()
            await watcher
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, *self._takers, return_exceptions=True)
        self.result.duration_s = time.monotonic() - started
        return self.result

    async def _paced(self, work: Sequence[Callable[[], Awaitable[Sample]]],
                     deadline: float) -> None:
        """Send the requests from `concurrency` buyers at a time (a closed model: under the
        gateway's in-flight bound, so none is shed and the whole crowd gets its turn)."""
        queue = iter(work)

        async def worker() -> None:
            for start in queue:
                if time.monotonic() > deadline:
                    return
                await start()

        await asyncio.gather(*(worker() for _ in range(self._concurrency)))

    async def _join(self, i: int, account: Account) -> Sample:
        quantity = 2 if chosen(i, self._rules.large_fraction) else 1
        event_id = self._events[i % len(self._events)]
        return await self._gen.request("join", "POST", f"/api/events/{event_id}/waitlist",
                                       account, self._gen.since_start(),
                                       {"quantity": quantity})

    async def _cancel(self, account: Account, booking_id: str) -> Sample:
        self.result.cancels_sent[booking_id] = time.time()
        return await self._gen.request("cancel", "POST", f"/api/bookings/{booking_id}/cancel",
                                       account, self._gen.since_start(),
                                       booking_id=booking_id)

    async def _watch(self, deadline: float) -> None:
        """Hand each new offer to its buyer; done once no offer is open after the cancels
        (an offer is made in the very commit that returns its seats, and the cancels are
        answered after their commits, so none is still to come)."""
        while True:
            rows = await self._pool.fetch(_OFFERS, self._events)
            for r in rows:
                if r["id"] not in self._seen:
                    self._seen.add(r["id"])
                    self._offered(r["id"], r["user_id"])
            if self._returned.is_set() and not rows and all(t.done() for t in self._takers):
                return
            if time.monotonic() > deadline:
                self.result.timed_out = True
                return
            await asyncio.sleep(WATCH_EVERY)  # the rows are written by other processes

    def _offered(self, booking_id: str, user_id: int) -> None:
        k = self.result.offers_seen
        self.result.offers_seen += 1
        owner = self._owners.get(user_id)
        if owner is None or chosen(k, self._rules.abandon_fraction):
            return  # walks away: the offer expires and passes on
        self._takers.append(asyncio.create_task(self._take(k, owner, booking_id)))

    async def _take(self, k: int, owner: Account, booking_id: str) -> None:
        think = self._rules.think_seconds * random.Random(k).random()
        await asyncio.sleep(think)  # the buyer's behaviour, not a wait for an answer
        # A free event's offer is accepted with no token (docs/design.md, "Waiting list").
        sample = await self._gen.request("pay", "POST", f"/api/bookings/{booking_id}/pay",
                                         owner, self._gen.since_start(),
                                         key=f"offer-{booking_id}", booking_id=booking_id)
        self.result.offers_taken += sample.status == 200
