"""The waiting room's phase of a surge (`[queue]`, the `queue-rush` scenario): the events
have a waiting room whose queue opens `prequeue_seconds` before the sale; every buyer joins
it — the pre-queue's buyers spread evenly over that window, `late_fraction` of them over
`late_seconds` after the opening — and then behaves as the API asks a client to:

- it asks `GET /api/queue/{queueId}` again no sooner than the last answer's
  `refreshAfterSeconds` (a `listeners` share also holds `GET /api/stream` open and acts on
  the `queue` events pushed to it, asking only when nothing came for as long);
- once `admitted` it books one seat with an Idempotency-Key (resent with the same key after
  a 429 or 503, while its admission lasts), and stops: booked, refused, or told `closed`;
- a `sneak_fraction` share tries once to book while still `waiting`, out of turn.

Each buyer's trace records when it saw each new status, and by which channel: the checker
(`queue_check.py`) holds that against the moment the engine made the change (the opening,
the admission, the closing), as recorded in PostgreSQL. Everything goes through the API; the
requests are the run's samples (`queue-join`, `queue-poll`, and `book` for the bookings).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from ops.surge.failover import gateway_for
from ops.surge.load import LoadGenerator, Tally
from ops.surge.population import Account
from ops.surge.scenario import Queue
from ops.surge.sources import SourceClients

#: The pre-queue's joins are spread over this share of its window: the last ones still
#: reach the room before the opening on a loaded machine.
SPREAD = 0.95
#: Answers that mean "not now, ask again" (after Retry-After); 0 is no answer at all.
TRY_LATER = frozenset({0, 429, 503})
#: How far along an entry's life each status is: a client keeps the furthest it has seen, so
#: a push that was overtaken by a poll does not take it back.
STAGE = {"pending": 0, "prequeue": 1, "waiting": 2, "admitted": 3, "used": 4, "expired": 4,
         "closed": 4}
#: Statuses after which the buyer has nothing left to wait for.
DONE = frozenset({"used", "expired", "closed"})
#: How long a listener waits for its stream to open before joining without it.
STREAM_OPEN_SECONDS = 10.0


@dataclass
class BuyerTrace:
    """What one buyer of the room did and saw; times are wall-clock (`time.time()`)."""

    index: int
    user_id: int
    event_id: int
    prequeue: bool
    sneak: bool
    listener: bool
    queue_id: str | None = None
    #: The join's final answer: HTTP status, its error code, the entry's status.
    join_status: int = 0
    join_error: str | None = None
    joined_as: str | None = None
    #: Some attempt at the join went unanswered (a connection error) or was answered
    #: `pending`: with no entry answered in the end, the account may hold one all the same.
    join_unsure: bool = False
    #: Each status seen after the join, the first time it was seen: (status, when, channel).
    seen: list[tuple[str, float, str]] = field(default_factory=list)
    #: A booking out of turn: when it was sent, and its answer (status, error code).
    sneaked_at: float | None = None
    sneak_answer: tuple[int, str | None] | None = None
    #: The booking once admitted: its final HTTP status and error code.
    booked: tuple[int, str | None] | None = None
    #: A poll answered with a refusal (status, error code): the buyer gave up there.
    poll_refused: tuple[int, str | None] | None = None
    done: bool = False

    @property
    def status(self) -> str | None:
        """The furthest status this buyer has seen."""
        return self.seen[-1][0] if self.seen else self.joined_as

    def saw(self, body: Any, at: float, channel: str) -> None:
        """Note an entry as the API showed it: a status further along is a change learned."""
        status = body.get("status") if isinstance(body, dict) else None
        current = self.status
        if status in STAGE and (current is None or STAGE[status] > STAGE.get(current, -1)):
            self.seen.append((status, at, channel))


@dataclass
class QueueRun:
    """What the phase did: every buyer's trace, and what its listeners heard."""

    buyers: int
    traces: list[BuyerTrace] = field(default_factory=list)
    #: `queue` events the listeners' streams carried, and the streams refused or broken.
    pushes: int = 0
    stream_failures: Counter[str] = field(default_factory=Counter)
    #: From the queue's opening to the last buyer done (or the phase's end).
    duration_s: float = 0.0
    #: Buyers still waiting for an outcome when the phase ran out of time.
    unfinished: int = 0


def roles(rules: Queue, count: int, seed: int) -> tuple[set[int], set[int], set[int]]:
    """Which buyers (by index) join late, sneak and listen: exact shares, drawn by seed."""
    rng = random.Random(seed)
    late = set(rng.sample(range(count), round(count * rules.late_fraction)))
    sneaks = set(rng.sample(range(count), round(count * rules.sneak_fraction)))
    listeners = set(rng.sample(range(count), min(count, rules.listeners)))
    return late, sneaks, listeners


def join_offsets(rules: Queue, count: int, late: set[int]) -> list[float]:
    """Each buyer's join, in seconds after the queue opens: the pre-queue's evenly over the
    window, the late ones evenly over `late_seconds` after the opening."""
    early = [i for i in range(count) if i not in late]
    later = sorted(late)
    offsets = [0.0] * count
    window = rules.prequeue_seconds * SPREAD
    for k, i in enumerate(early):
        offsets[i] = (k + 0.5) / len(early) * window
    for k, i in enumerate(later):
        offsets[i] = rules.prequeue_seconds + (k + 0.5) / len(later) * rules.late_seconds
    return offsets


class QueueRush:
    """Plays `[queue]` on the run's events (created with the room's fields by the runner)."""

    def __init__(self, generator: LoadGenerator, clients: Sequence[SourceClients],
                 events: Sequence[int], rules: Queue, *, tag: str, seed: int,
                 max_seconds: float, progress: Tally) -> None:
        self._gen, self._clients, self._events = generator, list(clients), list(events)
        self._rules, self._tag, self._seed = rules, tag, seed
        self._max_seconds, self._progress = max_seconds, progress
        self._deadline = 0.0
        self.result = QueueRun(0)

    async def run(self, buyers: Sequence[Account], opens_at: datetime,
                  share: tuple[int, int] = (0, 1)) -> QueueRun:
        """Play the room for `buyers`, its queue opening at `opens_at`: until every buyer is
        done, or `max_seconds` after the opening. `share` (k, n): play only the buyers whose
        index is k modulo n, on the whole run's schedule (one of n generator processes,
        `queue_fleet.py`); the run then holds their traces only."""
        rules, run = self._rules, QueueRun(len(buyers))
        self.result = run
        start = time.monotonic() + (opens_at.timestamp() - time.time())
        self._gen.begin(start)  # samples' times: seconds since the queue opened
        self._deadline = start + rules.prequeue_seconds + self._max_seconds
        late, sneaks, listeners = roles(rules, len(buyers), self._seed)
        offsets = join_offsets(rules, len(buyers), late)
        mine, of = share
        run.traces = [BuyerTrace(i, a.id, self._events[i % len(self._events)], i not in late,
                                 i in sneaks, i in listeners)
                      for i, a in enumerate(buyers) if i % of == mine]
        tasks = [asyncio.create_task(self._buyer(t, buyers[t.index], start + offsets[t.index]))
                 for t in run.traces]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks),
                                   max(0.0, self._deadline - time.monotonic()) + 30)
        except TimeoutError:
            pass  # the trace says who was still waiting
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        run.duration_s = time.monotonic() - start
        run.unfinished = sum(not t.done for t in run.traces)
        return run

    async def _buyer(self, t: BuyerTrace, account: Account, join_at: float) -> None:
        delay = join_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # the buyer's arrival, on the scenario's schedule
        pushed: asyncio.Queue[tuple[Any, float]] | None = None
        listening: asyncio.Task[None] | None = None
        if t.listener:
            pushed, opened = asyncio.Queue(), asyncio.Event()
            listening = asyncio.create_task(self._listen(account, pushed, opened))
            await _until_set(opened, listening, STREAM_OPEN_SECONDS)
        try:
            t.done = await self._wait_and_book(t, account, pushed)
        finally:
            if listening is not None:
                listening.cancel()
                await asyncio.gather(listening, return_exceptions=True)

    async def _wait_and_book(self, t: BuyerTrace, account: Account,
                             pushed: asyncio.Queue[tuple[Any, float]] | None) -> bool:
        """Join, wait for the turn, book; whether the buyer got to an outcome (booked,
        refused, closed out) before the phase's end."""
        place = await self._join(t, account)
        while place is not None:
            if time.monotonic() >= self._deadline:
                return False
            status = place.get("status")
            if status == "admitted":
                await self._book(t, account, place)
                return True
            if status in DONE:
                return True
            if t.sneak and status == "waiting" and t.sneaked_at is None \
                    and await self._sneak(t, account):
                return True
            place = await self._next(t, account, place, pushed)
        return True  # refused, or gave up on a refusal: an outcome too

    async def _join(self, t: BuyerTrace, account: Account) -> dict[str, Any] | None:
        """Join (again after a 429 or 503, as Retry-After says, and after a 202 as its
        `refreshAfterSeconds` says: joining again is the same entry, and how a pending join
        learns its outcome); the entry as answered, or None when refused (or still pending
        at the phase's end)."""
        path = f"/api/events/{t.event_id}/queue"
        while True:
            sample, body, wait = await self._gen.exchange(
                "queue-join", "POST", path, account, self._gen.since_start())
            t.join_unsure = t.join_unsure or sample.status in (0, 202)
            if sample.status in TRY_LATER:
                if await self._pause(wait):
                    continue
            elif sample.status == 202 and isinstance(body, dict):
                if await self._pause(float(body.get("refreshAfterSeconds") or 1)):
                    continue
            break
        t.join_status, t.join_error = sample.status, sample.error
        self._progress.add(sample.status)
        if sample.status not in (200, 201) or not isinstance(body, dict):
            return None
        t.queue_id, t.joined_as = str(body.get("queueId")), str(body.get("status"))
        return body

    async def _next(self, t: BuyerTrace, account: Account, place: dict[str, Any],
                    pushed: asyncio.Queue[tuple[Any, float]] | None) -> dict[str, Any] | None:
        """The entry's next state: pushed on the stream within `refreshAfterSeconds`, else
        asked for once that long has passed."""
        wait = min(max(float(place.get("refreshAfterSeconds") or 1), 1.0),
                   max(0.0, self._deadline - time.monotonic()))
        if pushed is not None:
            try:
                body, at = await asyncio.wait_for(pushed.get(), wait)
            except TimeoutError:
                pass
            else:
                t.saw(body, at, "stream")
                return {**place, **body} if isinstance(body, dict) else place
        else:
            await asyncio.sleep(wait)  # as the answer asked: no sooner
        return await self._poll(t, account, place)

    async def _poll(self, t: BuyerTrace, account: Account,
                    place: dict[str, Any]) -> dict[str, Any] | None:
        sample, body, wait = await self._gen.exchange(
            "queue-poll", "GET", f"/api/queue/{t.queue_id}", account, self._gen.since_start())
        if sample.status == 200 and isinstance(body, dict):
            t.saw(body, time.time(), "poll")
            return body
        if sample.status in TRY_LATER:
            # Not now: ask again as told, or in a second.
            return {**place, "refreshAfterSeconds": wait or 1}
        t.poll_refused = (sample.status, sample.error)
        return None  # refused: this buyer gives up

    async def _book(self, t: BuyerTrace, account: Account, place: dict[str, Any]) -> None:
        """Book one seat while the admission lasts (resent with the same key when told to
        come back)."""
        expires = place.get("admissionExpiresAt")
        until = datetime.fromisoformat(expires).timestamp() if expires else time.time()
        path = f"/api/events/{t.event_id}/book"
        while True:
            sample, _, wait = await self._gen.exchange(
                "book", "POST", path, account, self._gen.since_start(), {"quantity": 1},
                f"{self._tag}-q{t.index}")
            if sample.status not in TRY_LATER or time.time() + (wait or 1) > until \
                    or not await self._pause(wait):
                break
        t.booked = (sample.status, sample.error)

    async def _sneak(self, t: BuyerTrace, account: Account) -> bool:
        """Try once to book out of turn; whether it was accepted (the buyer is then done)."""
        t.sneaked_at = time.time()
        sample = await self._gen.request(
            "book", "POST", f"/api/events/{t.event_id}/book", account,
            self._gen.since_start(), {"quantity": 1}, f"{self._tag}-s{t.index}")
        t.sneak_answer = (sample.status, sample.error)
        accepted = sample.status in (201, 202)
        if accepted:
            t.booked = t.sneak_answer
        return accepted

    async def _pause(self, wait: float | None) -> bool:
        """Wait as the server asked before trying again; False when that would pass the
        phase's end."""
        pause = wait if wait is not None else 1.0
        if time.monotonic() + pause > self._deadline:
            return False
        await asyncio.sleep(pause)  # the server's Retry-After, not a guess at timing
        return True

    async def _listen(self, account: Account, pushed: asyncio.Queue[tuple[Any, float]],
                      opened: asyncio.Event) -> None:
        """Hold the buyer's stream open at its gateway, handing on each `queue` event with
        the time it arrived."""
        clients = self._clients[gateway_for(account.id % len(self._clients), 0,
                                            len(self._clients))]
        run = self.result
        try:
            async with clients.session(account.id).get(
                    clients.url + "/api/stream", headers=account.headers,
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
                if resp.status != 200:
                    run.stream_failures[str(resp.status)] += 1
                    return
                opened.set()
                kind = b""
                async for raw in resp.content:
                    line = raw.rstrip(b"\r\n")
                    if line.startswith(b"event:"):
                        kind = line[6:].strip()
                    elif line.startswith(b"data:") and kind == b"queue":
                        pushed.put_nowait((orjson.loads(line[5:]), time.time()))
                        run.pushes += 1
                    elif not line:
                        kind = b""
        except (aiohttp.ClientError, ValueError) as exc:
            run.stream_failures[type(exc).__name__] += 1
        finally:
            opened.set()  # a refused or broken stream: the buyer polls


async def _until_set(flag: asyncio.Event, task: asyncio.Task[None], timeout: float) -> None:
    """Wait until `flag` is set, `task` ends, or `timeout` passes, whichever comes first."""
    waiter = asyncio.create_task(flag.wait())
    try:
        await asyncio.wait({waiter, task}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
