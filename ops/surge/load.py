"""The load generator: bookings at a fixed arrival rate (open model) or at a fixed
concurrency (closed model), plus the retries, cancellations and bots a scenario asks for.

In the open model request i is due at t0 + i/rate and is sent then, whether or not earlier
replies have come back, and its latency counts from when it was due: a slow server cannot
hide its slowness by slowing the load down (coordinated omission).

On a paid event a booking answered `held` is paid (or not) as the scenario's `[payment]`
says, in a task of its own, so a closed model's worker goes on booking meanwhile.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import orjson

from ops.surge.failover import Failover, gateway_for, retry_after
from ops.surge.population import Account
from ops.surge.record import BOOKING_KINDS, PAY_KINDS, Sample
from ops.surge.scenario import Payment, Scenario
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


#: The golden ratio's fractional part: k * it mod 1 spreads any run of holds evenly over
#: [0, 1), so every share of `[payment]` holds for small runs too, whatever the order.
_SPREAD = 0.6180339887498949


def payment_for(k: int, payment: Payment) -> str | None:
    """What the k-th holder does: a pay kind of `record.PAY_KINDS`, None to abandon."""
    x = (k * _SPREAD) % 1.0
    for kind, share in ((None, payment.abandon_fraction),
                        ("declined-pay", payment.declined_fraction),
                        ("late-pay", payment.late_fraction)):
        if x < share:
            return kind
        x -= share
    return "pay"


class Tally(Protocol):
    """Where the generator counts answers as they come (a progress line, shared memory)."""

    def add(self, status: int) -> None:
        """Count one answered request."""


class LoadGenerator:
    """Sends the plan against a gateway and records every request."""

    def __init__(self, clients: SourceClients | Sequence[SourceClients], progress: Tally, *,
                 book_path: str = "/api/events/{event_id}/book",
                 failover: Failover | None = None) -> None:
        """`clients`: one gateway's, or several gateways' (buyer n's home gateway is
        n mod their number); `failover`: how a failed request is resent at the next one
        (failover.py; None: never resent, every answer is final)."""
        self._gateways = [clients] if isinstance(clients, SourceClients) else list(clients)
        if failover is None and len(self._gateways) > 1:
            failover = Failover()
        self._failover = failover
        #: Per attempt when resending (a silent gateway is given up); else the sessions'.
        self._timeout = None if failover is None else aiohttp.ClientTimeout(
            total=failover.attempt_seconds, sock_connect=failover.connect_seconds)
        self._book_path = book_path
        self._progress = progress
        self.samples: list[Sample] = []
        self._t0 = 0.0
        self._payment = Payment()
        self._holds = 0
        self._payments: list[asyncio.Task[None]] = []
        #: Each hold's `expiresAt`, as a wall-clock timestamp, by booking id.
        self._deadlines: dict[str, float] = {}

    def since_start(self) -> float:
        """Seconds since the run started: when a request sent now is due."""
        return time.monotonic() - self._t0

    def begin(self, start_at: float) -> None:
        """Start the run's clock at `start_at` (a `time.monotonic()` instant), for a phase
        that schedules its own requests (`queue_rush.py`) instead of `run`."""
        self._t0 = start_at

    async def request(self, kind: str, method: str, path: str, account: Account,
                      due: float, body: dict[str, object] | None = None,
                      key: str | None = None, booking_id: str | None = None) -> Sample:
        """Send one request as `account`, recorded as a sample of `kind`, and resend it
        (same key) at the next gateway while the failover policy says so; every attempt is
        recorded, the last marked final (the waiting list's phase, `waitlist_rush.py`, sends
        its own through here too)."""
        return (await self.exchange(kind, method, path, account, due, body, key,
                                    booking_id))[0]

    async def exchange(self, kind: str, method: str, path: str, account: Account,
                       due: float, body: dict[str, object] | None = None,
                       key: str | None = None, booking_id: str | None = None
                       ) -> tuple[Sample, Any, float | None]:
        """`request`, also returning the final answer's decoded body (None without one) and
        its Retry-After: what a client that reads the answer acts on (the waiting room's
        buyers, `queue_rush.py`)."""
        home = account.id % len(self._gateways)
        attempt = 0
        while True:
            gateway = gateway_for(home, attempt, len(self._gateways))
            sample, wait, data = await self._attempt(kind, method, path, account, due, body,
                                                     key, booking_id, gateway, attempt)
            policy = self._failover
            elapsed = time.monotonic() - self._t0 - due
            if policy is None or not policy.resends(sample.status, attempt, elapsed):
                break
            self.samples.append(replace(sample, final=False))
            # The client's backoff before its resend (as Retry-After asks), not a wait
            # for anything in the test.
            await asyncio.sleep(policy.pause(attempt, wait))
            attempt += 1
        self.samples.append(sample)
        if kind in BOOKING_KINDS:
            self._progress.add(sample.status)
        return sample, data, wait

    async def _attempt(self, kind: str, method: str, path: str, account: Account,
                       due: float, body: dict[str, object] | None, key: str | None,
                       booking_id: str | None, gateway: int,
                       attempt: int) -> tuple[Sample, float | None, Any]:
        """One try at one gateway: its sample, the answer's Retry-After and its body."""
        headers = dict(account.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        status, data, error, wait = 0, None, None, None
        clients = self._gateways[gateway]
        try:
            # Each account always sends from its own source address (see sources.py).
            # Bodies encoded and decoded with orjson: the generator's CPU per request is
            # part of what the bench measures, and the stdlib json is most of it.
            async with clients.session(account.id).request(
                    method, clients.url + path, headers=headers,
                    data=orjson.dumps(body) if body is not None else None,
                    timeout=self._timeout or clients.timeout) as resp:
                status = resp.status
                wait = retry_after(resp.headers.get("Retry-After"))
                raw = await resp.read()
                data = orjson.loads(raw) if raw.strip() else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = type(exc).__name__
        now = time.monotonic() - self._t0
        # A cancel names its booking up front: even unanswered, it is about that booking.
        codes, quantity, booking_status = (), 0, None
        if isinstance(data, dict):
            booking = data.get("booking", data)
            if isinstance(booking, dict) and "id" in booking:
                booking_id = str(booking["id"])
                quantity = int(booking.get("quantity", 0))
                codes = tuple(t["code"] for t in booking.get("tickets", []))
                booking_status = booking.get("status")
                if "expiresAt" in booking:
                    self._deadlines[booking_id] = datetime.fromisoformat(
                        booking["expiresAt"]).timestamp()
            elif status == 503 and "bookingId" in data:
                booking_id = str(data["bookingId"])  # named so it can be checked: never made
            if status >= 400 and not error:
                error = str(data.get("error", status))
        shown = status == 201 or (status == 200 and kind in PAY_KINDS)
        sample = Sample(kind, status, due, (now - due) * 1000, booking_id, quantity, error,
                        codes if shown else (), key, booking_status, gateway, attempt)
        return sample, wait, data

    async def _book(self, p: Plan, due: float) -> None:
        path = self._book_path.format(event_id=p.event_id)
        first = await self.request("book", "POST", path, p.buyer, due,
                                    {"quantity": p.quantity}, p.key)
        if p.retry:  # a client that did not trust the first answer
            await self.request("retry", "POST", path, p.buyer, time.monotonic() - self._t0,
                                {"quantity": p.quantity}, p.key)
        if first.status == 201 and first.booking_status == "held" and first.booking_id:
            k, self._holds = self._holds, self._holds + 1
            kind = payment_for(k, self._payment)
            if kind is not None:
                self._payments.append(asyncio.create_task(
                    self._pay(p, k, kind, first.booking_id)))
            return
        if p.cancel and first.status == 201 and first.booking_id:
            await self.request("cancel", "POST", f"/api/bookings/{first.booking_id}/cancel",
                                p.buyer, time.monotonic() - self._t0,
                                booking_id=first.booking_id)

    async def _pay(self, p: Plan, k: int, kind: str, booking_id: str) -> None:
        """Pay the k-th hold as `kind` says: in time after a think, declined, or so close to
        its deadline that the provider's answer comes after it."""
        if kind == "late-pay":
            # Wall clock against the server's expiresAt: same host, or synchronised clocks.
            wait = self._deadlines[booking_id] - self._payment.late_lead_seconds - time.time()
        else:
            wait = self._payment.think_seconds * random.Random(k).random()
        if wait > 0:
            await asyncio.sleep(wait)  # the buyer's behaviour, not a wait for an answer
        token = "tok_declined" if kind == "declined-pay" else "tok_ok"
        await self.request(kind, "POST", f"/api/bookings/{booking_id}/pay", p.buyer,
                            time.monotonic() - self._t0, {"paymentToken": token},
                            f"{p.key}-pay", booking_id=booking_id)

    async def run(self, scenario: Scenario, plans: Sequence[Plan],
                  bots: Sequence[tuple[Account, int]], *,
                  start_at: float | None = None) -> float:
        """Send everything; returns the duration of the booking requests in seconds (a
        hold's payment may come later). `start_at` (a
        `time.monotonic()` instant, the same clock in every process on Linux) lets several
        generator processes share one schedule."""
        if start_at is not None and start_at > time.monotonic():
            await asyncio.sleep(start_at - time.monotonic())  # the agreed start, not a wait
        self._t0 = time.monotonic() if start_at is None else start_at
        self._payment = scenario.payment
        deadline = self._t0 + scenario.load.max_seconds
        bot_tasks = [asyncio.create_task(self._bot(account, event_id, scenario, deadline))
                     for account, event_id in bots]
        if scenario.load.mode == "rate":
            await self._open(plans, scenario.load.rate, deadline)
        else:
            await self._closed(plans, scenario.load.concurrency, deadline)
        await asyncio.gather(*bot_tasks)
        duration = time.monotonic() - self._t0
        # Payments come after their holds, up to a hold's length after the last booking;
        # the run's duration (throughput) is the booking's.
        await _bounded(asyncio.gather(*self._payments), time.monotonic() + (
            scenario.events.hold_seconds or 0))
        return duration

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
            await self.request("bot", "POST", path, account, time.monotonic() - self._t0,
                                {"quantity": 1}, f"bot-{account.id}-{i}")


async def _bounded(work: Awaitable[object], deadline: float) -> None:
    """Wait for `work`, but never past the deadline plus a grace for replies in flight."""
    try:
        await asyncio.wait_for(work, max(deadline - time.monotonic(), 0) + 30)
    except TimeoutError:
        pass  # the run reports what was answered; the rest counts as unanswered


