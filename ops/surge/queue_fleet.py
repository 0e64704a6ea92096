"""The waiting room's phase (`queue_rush.py`) played from several generator processes.

At full size (50,000 buyers) one generator process is what breaks: its event loop falls
behind, the gateway closes connections the loop has not got round to, and it runs out of
file descriptors while the gateways idle (docs/benchmarks.md). Here each process plays the
buyers whose index is its own modulo the number of processes, on the same schedule — every
process computes the whole run's roles and join times from the seed and the queue's opening,
a wall-clock instant they all share — from its own source addresses, and sends back its
buyers' traces and its samples, which are merged into one run for the checker.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from ops.surge.fleet import SLOTS, SlotTally, reap, reports_of
from ops.surge.load import LoadGenerator
from ops.surge.population import Account
from ops.surge.progress import Progress
from ops.surge.queue_rush import QueueRun, QueueRush
from ops.surge.record import Sample
from ops.surge.scenario import Scenario
from ops.surge.sources import DEFAULT_ADDRESSES, SourceClients


@dataclass(frozen=True)
class QueueShare:
    """What one generator process of the waiting room's phase is given."""

    index: int
    processes: int
    urls: Sequence[str]
    scenario: Scenario
    events: Sequence[int]
    buyers: Sequence[Account]
    opens_at: datetime
    tag: str
    seed: int


@dataclass
class QueueFleetResult:
    """The merged run and samples of every process, and the generator's CPU seconds."""

    run: QueueRun
    samples: list[Sample]
    cpu_s: float


def _work(share: QueueShare, counts: Any, results: Any) -> None:
    """A generator process: play its share of the buyers, report."""
    import uvloop

    try:
        results.put(uvloop.run(_play(share, counts)))
    except BaseException:  # the parent must hear of it rather than wait forever
        results.put(("error", share.index, traceback.format_exc()))


async def _play(share: QueueShare, counts: Any) -> tuple[str, int, list[Sample], QueueRun,
                                                         float]:
    per = max(1, DEFAULT_ADDRESSES // share.processes)
    timeout = aiohttp.ClientTimeout(total=share.scenario.load.max_seconds + 30)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(
            SourceClients(u, addresses=per, first=share.index * per, timeout=timeout,
                          connections=share.scenario.load.connections_per_address))
            for u in share.urls]
        tally_ = SlotTally(counts, share.index)
        generator = LoadGenerator(clients, tally_)
        rush = QueueRush(generator, clients, share.events, share.scenario.queue,
                         tag=share.tag, seed=share.seed,
                         max_seconds=share.scenario.load.max_seconds, progress=tally_)
        cpu = time.process_time()
        run = await rush.run(share.buyers, share.opens_at,
                             share=(share.index, share.processes))
        return "ok", share.index, generator.samples, run, time.process_time() - cpu


def merged(runs: Sequence[QueueRun], buyers: int) -> QueueRun:
    """One run of the phase from its processes' runs (each holding its own buyers' traces)."""
    run = QueueRun(buyers)
    run.traces = sorted((t for r in runs for t in r.traces), key=lambda t: t.index)
    run.pushes = sum(r.pushes for r in runs)
    run.stream_failures = sum((r.stream_failures for r in runs), Counter())
    run.duration_s = max((r.duration_s for r in runs), default=0.0)
    run.unfinished = sum(r.unfinished for r in runs)
    return run


async def run_queue_fleet(scenario: Scenario, urls: Sequence[str], events: Sequence[int],
                          buyers: Sequence[Account], opens_at: datetime, *, processes: int,
                          tag: str, seed: int, label: str) -> QueueFleetResult:
    """Play the waiting room's phase from `processes` generator processes started afresh;
    `opens_at` must leave them the time to start (a few seconds)."""
    ctx = mp.get_context("spawn")  # never fork a process that runs an event loop
    counts = ctx.Array("q", processes * len(SLOTS), lock=False)
    results = ctx.Queue()
    procs = [ctx.Process(target=_work, daemon=True, name=f"surge-queue-{i}",
                         args=(QueueShare(i, processes, list(urls), scenario, list(events),
                                          list(buyers), opens_at, tag, seed),
                               counts, results))
             for i in range(processes)]
    for proc in procs:
        proc.start()
    cpu = time.process_time()
    try:
        reports = await reports_of(results, procs, Progress(len(buyers), f"{label} joins"),
                                   counts)
    finally:
        reap(procs)
    return QueueFleetResult(merged([r[3] for r in reports], len(buyers)),
                            [s for r in reports for s in r[2]],
                            time.process_time() - cpu + sum(r[4] for r in reports))
