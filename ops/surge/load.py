"""The load generator: bookings at a fixed arrival rate (open model) or at a fixed
concurrency (closed model), plus the retries, cancellations and bots a scenario asks for.

In the open model request i is due at t0 + i/rate and is sent then, whether or not earlier
replies have come back, and its latency counts from when it was due: a slow server cannot
hide its slowness by slowing the load down (coordinated omission).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import orjson

from ops.surge.population import Account
from ops.surge.record import Sample
from ops.surge.scenario import Scenario
from ops.surge.sources import SourceClients


@dataclass(frozen=True)
class Plan:
    """One booking request to make."""

    index: int
    buyer: Account
    event_id: int
    quantity: int
    key: str
    retry: bool
    cancel: bool


def plan(scenario: Scenario, buyers: Sequence[Account], events: Sequence[int],
         run_tag: str, seed: int) -> list[Plan]:
    """The booking requests of a run, spread over buyers and events, reproducible by seed."""
    rng = random.Random(seed)
    b, limit = scenario.behaviour, scenario.events.per_user_limit
    plans = []
    for i in range(scenario.load.requests):
        over = limit is not None and rng.random() < b.over_limit_fraction
        plans.append(Plan(i, buyers[i % len(buyers)], events[rng.randrange(len(events))],
                          (limit + 1) if over and limit else scenario.load.quantity,
                          f"{run_tag}-{i}", rng.random() < b.retry_fraction,
                          rng.random() < b.cancel_fraction))
    return plans


class Tally(Protocol):
    """Where the generator counts answers as they come (a progress line, shared memory)."""

    def add(self, status: int) -> None:
        """Count one answered request."""


class LoadGenerator:
    """Sends the plan against a gateway and records every request."""

    def __init__(self, clients: SourceClients, progress: Tally, *,
                 book_path: str = "/api/events/{event_id}/book") -> None:
        self._clients = clients
        self._url = clients.url
        self._book_path = book_path
        self._progress = progress
        self.samples: list[Sample] = []
        self._t0 = 0.0

    async def _request(self, kind: str, method: str, path: str, account: Account,
                       due: float, body: dict[str, object] | None = None,
                       key: str | None = None, booking_id: str | None = None) -> Sample:
        headers = dict(account.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        status, data, error = 0, None, None
        try:
            # Each account always sends from its own source address (see sources.py).
            # Bodies encoded and decoded with orjson: the generator's CPU per request is
            # part of what the bench measures, and the stdlib json is most of it.
            async with self._clients.session(account.id).request(
                    method, self._url + path, headers=headers,
                    data=orjson.dumps(body) if body is not None else None) as resp:
                status = resp.status
                raw = await resp.read()
                data = orjson.loads(raw) if raw.strip() else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = type(exc).__name__
        now = time.monotonic() - self._t0
        # A cancel names its booking up front: even unanswered, it is about that booking.
        codes, quantity = (), 0
        if isinstance(data, dict):
            booking = data.get("booking", data)
            if isinstance(booking, dict) and "id" in booking:
                booking_id = str(booking["id"])
                quantity = int(booking.get("quantity", 0))
                codes = tuple(t["code"] for t in booking.get("tickets", []))
            elif status == 503 and "bookingId" in data:
                booking_id = str(data["bookingId"])  # named so it can be checked: never made
            if status >= 400 and not error:
                error = str(data.get("error", status))
        sample = Sample(kind, status, due, (now - due) * 1000, booking_id, quantity, error,
                        codes if status == 201 else (), key)
        self.samples.append(sample)
        if kind != "cancel":
            self._progress.add(status)
        return sample

    async def _book(self, p: Plan, due: float) -> None:
        path = self._book_path.format(event_id=p.event_id)
        first = await self._request("book", "POST", path, p.buyer, due,
                                    {"quantity": p.quantity}, p.key)
        if p.retry:  # a client that did not trust the first answer
            await self._request("retry", "POST", path, p.buyer, time.monotonic() - self._t0,
                                {"quantity": p.quantity}, p.key)
        if p.cancel and first.status == 201 and first.booking_id:
            await self._request("cancel", "POST", f"/api/bookings/{first.booking_id}/cancel",
                                p.buyer, time.monotonic() - self._t0,
                                booking_id=first.booking_id)

    async def run(self, scenario: Scenario, plans: Sequence[Plan],
                  bots: Sequence[tuple[Account, int]], *,
                  start_at: float | None = None) -> float:
        """Send everything; returns the run's duration in seconds. `start_at` (a
        `time.monotonic()` instant, the same clock in every process on Linux) lets several
        generator processes share one schedule."""
        if start_at is not None and start_at > time.monotonic():
            await asyncio.sleep(start_at - time.monotonic())  # the agreed start, not a wait
        self._t0 = time.monotonic() if start_at is None else start_at
        deadline = self._t0 + scenario.load.max_seconds
        bot_tasks = [asyncio.create_task(self._bot(account, event_id, scenario, deadline))
                     for account, event_id in bots]
        if scenario.load.mode == "rate":
            await self._open(plans, scenario.load.rate, deadline)
        else:
            await self._closed(plans, scenario.load.concurrency, deadline)
        await asyncio.gather(*bot_tasks)
        return time.monotonic() - self._t0

    async def _open(self, plans: Sequence[Plan], rate: float, deadline: float) -> None:
        tasks = []
        for p in plans:
            due = p.index / rate
            delay = self._t0 + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # the schedule, not a wait for replies
            if time.monotonic() > deadline:
                break
            tasks.append(asyncio.create_task(self._book(p, due)))
        await _bounded(asyncio.gather(*tasks), deadline)

    async def _closed(self, plans: Sequence[Plan], concurrency: int, deadline: float) -> None:
        queue = iter(plans)

        async def worker() -> None:
            for p in queue:
                if time.monotonic() > deadline:
                    return
                await self._book(p, time.monotonic() - self._t0)

        await _bounded(asyncio.gather(*(worker() for _ in range(concurrency))), deadline)

    async def _bot(self, account: Account, event_id: int, scenario: Scenario,
                   deadline: float) -> None:
        path = f"/api/events/{event_id}/book"
        for i in range(scenario.behaviour.bot_requests):
            if time.monotonic() > deadline:
                return
            await self._request("bot", "POST", path, account, time.monotonic() - self._t0,
                                {"quantity": 1}, f"bot-{account.id}-{i}")


async def _bounded(work: Awaitable[object], deadline: float) -> None:
    """Wait for `work`, but never past the deadline plus a grace for replies in flight."""
    try:
        await asyncio.wait_for(work, max(deadline - time.monotonic(), 0) + 30)
    except TimeoutError:
        pass  # the run reports what was answered; the rest counts as unanswered


