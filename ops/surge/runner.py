"""One surge run against a running gateway: population, load, checks, result."""

from __future__ import annotations

import uuid

import aiohttp
import asyncpg

from engine.auth import TokenIssuer
from engine.types import Role
from ops.surge import checker
from ops.surge.load import LoadGenerator, plan
from ops.surge.population import bulk_accounts, create_events
from ops.surge.progress import Progress
from ops.surge.record import summarize
from ops.surge.report import RunResult
from ops.surge.scenario import Scenario
from ops.surge.sources import SourceClients


async def run_surge(scenario: Scenario, url: str, pool: asyncpg.Pool, issuer: TokenIssuer, *,
                    strategy: str = "unknown", seed: int = 1, settle_seconds: float = 60.0,
                    book_path: str = "/api/events/{event_id}/book") -> RunResult:
    """Run `scenario` against the gateway at `url`; the pool reads the same database."""
    tag = uuid.uuid4().hex[:8]
    timeout = aiohttp.ClientTimeout(total=scenario.load.max_seconds + 30)
    async with SourceClients(url, timeout=timeout) as clients:
        (vendor,) = await bulk_accounts(pool, issuer, 1, Role.VENDOR, tag=f"{tag}v")
        events = await create_events(clients.session(vendor.id), url, vendor,
                                     scenario.events.count,
                                     scenario.events.seats, scenario.events.per_user_limit,
                                     f"{scenario.name} {tag}")
        buyers = await bulk_accounts(pool, issuer, scenario.buyers.count, tag=tag)
        bots = await bulk_accounts(pool, issuer, scenario.behaviour.bots, tag=f"{tag}b") \
            if scenario.behaviour.bots else []
        plans = plan(scenario, buyers, events, tag, seed)
        total = len(plans) + sum(p.retry for p in plans) + \
            scenario.behaviour.bots * scenario.behaviour.bot_requests
        with Progress(total, f"{scenario.name}/{strategy}") as progress:
            generator = LoadGenerator(clients, progress, book_path=book_path)
            duration = await generator.run(scenario, plans,
                                           [(b, events[i % len(events)])
                                            for i, b in enumerate(bots)])
    verdict = await checker.check(pool, events, generator.samples,
                                  settle_seconds=settle_seconds)
    return RunResult(scenario.name, strategy, summarize(generator.samples, duration), verdict)
