"""One surge run against a running gateway: population, load, checks, result."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

import aiohttp
import asyncpg

from engine.auth import TokenIssuer
from engine.errors import PaidNeedsQueued, WaitingRoomNeedsQueued
from engine.payments.fake import FakeProvider
from engine.types import Role, utcnow
from ops.surge import checker
from ops.surge.cpu import CpuShare, ServerMeter
from ops.surge.fleet import run_fleet
from ops.surge.holds import HoldSampler
from ops.surge.load import LoadGenerator, Plan, plan
from ops.surge.population import Account, bulk_accounts, create_events
from ops.surge.progress import Progress
from ops.surge.queue_fleet import run_queue_fleet
from ops.surge.queue_rush import QueueRun, QueueRush
from ops.surge.record import Sample, summarize
from ops.surge.report import RunResult
from ops.surge.scenario import Scenario
from ops.surge.sources import SourceClients
from ops.surge.waitlist_rush import WaitlistRun, WaitlistRush

#: From a waiting room's creation to its queue opening: the event's round trip fits.
QUEUE_LEAD_SECONDS = 1.0
#: The same with several generator processes: each is started (spawned, imported,
#: connected) before the opening.
FLEET_LEAD_SECONDS = 10.0


async def run_surge(scenario: Scenario, url: str | Sequence[str], pool: asyncpg.Pool,
                    issuer: TokenIssuer, *,
                    strategy: str = "unknown", seed: int = 1, settle_seconds: float = 60.0,
                    book_path: str = "/api/events/{event_id}/book", processes: int = 1,
                    server_pids: Sequence[int] = (),
                    buyers: Sequence[Account] | None = None,
                    provider: FakeProvider | None = None) -> RunResult:
    """Run `scenario` against the gateway at `url`; the pool reads the same database.

    `url` may be several gateways' (of one engine): buyers are spread over them and a
    failed or unanswered request is resent at the next with the same Idempotency-Key
    (`failover.py`); every attempt is in the samples, and the checker holds each answer.

    `processes` > 1 sends the load from that many generator processes (`fleet.py`); the
    CPU of the generator, of the processes under `server_pids` (the gateway and its
    workers) and of the local services is measured over the load phase either way.
    `buyers`: accounts to buy with instead of new ones (back-to-back runs by one crowd).
    On paid events, `sold + held` is sampled from the run's start until its last hold ended;
    `provider`: the fake provider serving the gateway, when it is in this process (its
    records are then held against the payments outbox). A gateway whose strategy refuses
    paid events (409 paid_needs_queued) gives a result that says so. A `[waitlist]` is
    played once the sale is over (`waitlist_rush.py`), its offers sampled like holds. A
    `[queue]` replaces the load phase: the events get a waiting room and every buyer goes
    through it (`queue_rush.py`); a strategy without one (409 waiting_room_needs_queued for
    every join) gives a result that says so.
    """
    urls = [url] if isinstance(url, str) else list(url)
    if processes > 1 and len(urls) > 1:
        raise ValueError("a surge over several gateways runs in one generator process")
    tag = uuid.uuid4().hex[:8]
    timeout = aiohttp.ClientTimeout(total=scenario.load.max_seconds + 30)
    async with contextlib.AsyncExitStack() as stack:
        gateways = [await stack.enter_async_context(SourceClients(
            u, timeout=timeout, connections=scenario.load.connections_per_address))
            for u in urls]
        clients, url = gateways[0], urls[0]  # the population is made through the first
        (vendor,) = await bulk_accounts(pool, issuer, 1, Role.VENDOR, tag=f"{tag}v")
        if buyers is None:  # before the events: a waiting room's clock starts with them
            buyers = await bulk_accounts(pool, issuer, scenario.buyers.count, tag=tag)
        fields = scenario.events.api_fields()
        opens_at = utcnow() + timedelta(
            seconds=QUEUE_LEAD_SECONDS if processes == 1 else FLEET_LEAD_SECONDS)
        if scenario.queue.enabled:
            fields.update(scenario.queue.api_fields(opens_at))
        events = await create_events(clients.session(vendor.id), url, vendor,
                                     scenario.events.count, scenario.events.seats, fields,
                                     f"{scenario.name} {tag}")
        bots = await bulk_accounts(pool, issuer, scenario.behaviour.bots, tag=f"{tag}b") \
            if scenario.behaviour.bots else []
        joiners = await bulk_accounts(pool, issuer, scenario.waitlist.joiners, tag=f"{tag}w") \
            if scenario.waitlist.joiners else []
        plans = plan(scenario, buyers, events, tag, seed)
        targets = [(b, events[i % len(events)]) for i, b in enumerate(bots)]
        label = f"{scenario.name}/{strategy}"
        # The run's database named, so the PostgreSQL CPU spent for it is told apart.
        meter = ServerMeter(server_pids, database=await pool.fetchval("SELECT current_database()"))
        sampler = HoldSampler(pool, events) if scenario.events.paid or joiners else None
        waited: WaitlistRun | None = None
        queued: QueueRun | None = None
        if sampler is not None:
            sampler.start()
        try:
            if scenario.queue.enabled and processes > 1:
                meter.start()
                played = await run_queue_fleet(scenario, urls, events, buyers, opens_at,
                                               processes=processes, tag=tag, seed=seed,
                                               label=label)
                queued, samples, generator_cpu = played.run, played.samples, played.cpu_s
                duration = queued.duration_s
            elif scenario.queue.enabled:
                with Progress(len(buyers), f"{label} joins") as progress:
                    generator = LoadGenerator(gateways, _Untallied())
                    rush = QueueRush(generator, gateways, events, scenario.queue, tag=tag,
                                     seed=seed, max_seconds=scenario.load.max_seconds,
                                     progress=progress)
                    meter.start()
                    started = time.process_time()
                    queued = await rush.run(buyers, opens_at)
                    generator_cpu = time.process_time() - started
                samples, duration = generator.samples, queued.duration_s
            elif processes > 1:
                meter.start()
                fleet = await run_fleet(scenario, url, plans, targets, processes=processes,
                                        book_path=book_path, label=label)
                samples, duration, generator_cpu = fleet.samples, fleet.duration_s, fleet.cpu_s
            else:
                total = len(plans) + sum(p.retry for p in plans) + \
                    scenario.behaviour.bots * scenario.behaviour.bot_requests
                with Progress(total, label) as progress:
                    generator = LoadGenerator(gateways, progress, book_path=book_path)
                    meter.start()
                    started = time.process_time()
                    duration = await generator.run(scenario, plans, targets)
                    generator_cpu = time.process_time() - started
                samples = generator.samples
            if joiners:
                waited = await _waitlist_phase(scenario, clients, pool, events, plans,
                                               samples, joiners)
        except BaseException:
            if sampler is not None:  # a run that failed samples no more
                await sampler.stop()
            raise
        server_cpu, services_cpu = meter.stop()
    refused = sampler is not None and not any(s.status == 201 for s in samples) and any(
        s.error == PaidNeedsQueued.code for s in samples)
    if refused and sampler is not None:
        await sampler.stop()
        sampler = None  # nothing was held: the usual checks say so
    no_room = queued is not None and bool(queued.traces) and all(
        t.join_error == WaitingRoomNeedsQueued.code for t in queued.traces)
    verdict = await checker.check(pool, events, samples, settle_seconds=settle_seconds,
                                  holds=sampler, provider=provider, waitlist=waited,
                                  queue=None if no_room else queued)
    stats = summarize(samples, duration)
    # A waiting room's buyers mostly join and poll: its CPU is per request of any kind.
    sent = stats.requests if queued is None else len(samples)
    cpu = CpuShare(generator_cpu, server_cpu if server_pids else None, services_cpu,
                   sent, processes, components=meter.components)
    return RunResult(scenario.name, strategy, stats, verdict, cpu,
                     refused=PaidNeedsQueued.code if refused else
                     WaitingRoomNeedsQueued.code if no_room else None)


class _Untallied:
    """The waiting list's requests are not booking requests: the progress line skips them."""

    def add(self, status: int) -> None:
        """Count nothing."""


async def _waitlist_phase(scenario: Scenario, clients: SourceClients, pool: asyncpg.Pool,
                          events: Sequence[int], plans: Sequence[Plan],
                          samples: list[Sample], joiners: Sequence[Account]) -> WaitlistRun:
    """Play `[waitlist]` after the sale: the ticket holders are the buyers whose booking was
    confirmed; its requests join the run's samples."""
    by_key = {p.key: p.buyer for p in plans}
    holders = [(by_key[s.key], s.booking_id) for s in samples
               if s.kind == "book" and s.status == 201 and s.booking_status == "confirmed"
               and s.key in by_key and s.booking_id]
    generator = LoadGenerator(clients, _Untallied())
    rush = WaitlistRush(generator, pool, events, scenario.waitlist,
                        concurrency=scenario.load.concurrency,
                        max_seconds=scenario.load.max_seconds)
    result = await rush.run(joiners, holders)
    samples.extend(generator.samples)
    return result
