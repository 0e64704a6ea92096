"""The load generator in several processes, so the client is not what a benchmark measures.

One Python process issuing thousands of requests per second is bound by its own event loop
(parsing answers, TLS-free but not free HTTP framing) and competes with the server for the
same cores. Here each generator process has its own event loop (uvloop), its own share of
the plan (request i goes to process i mod N, so an open-model schedule stays i / rate), its
own source addresses, and its share of a closed model's workers. They start together on one
instant of the system-wide monotonic clock and send back their samples and the CPU seconds
they spent on the load (`time.process_time`), which the bench reports beside the server's.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ops.surge.load import LoadGenerator, Plan
from ops.surge.population import Account
from ops.surge.progress import Progress
from ops.surge.record import Sample
from ops.surge.scenario import Scenario
from ops.surge.sources import DEFAULT_ADDRESSES, SourceClients

#: Statuses counted apart on the progress line; anything else is counted under 0.
SLOTS = (0, 200, 201, 202, 409, 422, 429, 503)
#: Longest wait for the generator processes to start (imports, connections).
_START_SECONDS = 60.0


@dataclass(frozen=True)
class Share:
    """What one generator process is given."""

    index: int
    processes: int
    url: str
    book_path: str
    scenario: Scenario
    plans: Sequence[Plan]
    bots: Sequence[tuple[Account, int]]


@dataclass
class FleetResult:
    """Every sample of every process, the run's duration, and the generator's CPU."""

    samples: list[Sample]
    duration_s: float
    cpu_s: float
    processes: int


class SlotTally:
    """Counts answers into this process's row of shared memory (one writer per row); the
    parent's `watch` shows the sum."""

    def __init__(self, counts: Any, row: int) -> None:
        self._counts, self._base = counts, row * len(SLOTS)

    def add(self, status: int) -> None:
        slot = SLOTS.index(status) if status in SLOTS else 0
        self._counts[self._base + slot] += 1


def _split(scenario: Scenario, index: int, processes: int) -> Scenario:
    """A closed model's workers shared out; an open model keeps its rate (the schedule is
    global: each process sends its own requests when they are due)."""
    workers = scenario.load.concurrency // processes + (
        index < scenario.load.concurrency % processes)
    return replace(scenario, load=replace(scenario.load, concurrency=max(1, workers)))


def _work(share: Share, ready: Any, go: Any, start: Any, counts: Any, results: Any) -> None:
    """A generator process: set up, wait for the common start, load, report."""
    import uvloop

    try:
        results.put(uvloop.run(_load(share, ready, go, start, counts)))
    except BaseException:  # the parent must hear of it rather than wait forever
        results.put(("error", share.index, traceback.format_exc()))


async def _load(share: Share, ready: Any, go: Any, start: Any,
                counts: Any) -> tuple[str, int, list[Sample], float, float]:
    per = max(1, DEFAULT_ADDRESSES // share.processes)
    async with SourceClients(share.url, addresses=per, first=share.index * per,
                             connections=share.scenario.load.connections_per_address) as clients:
        generator = LoadGenerator(clients, SlotTally(counts, share.index),
                                  book_path=share.book_path)
        await asyncio.to_thread(ready.wait, _START_SECONDS)
        await asyncio.to_thread(go.wait, _START_SECONDS)
        cpu = time.process_time()
        duration = await generator.run(_split(share.scenario, share.index, share.processes),
                                       share.plans, share.bots, start_at=start.value)
        return "ok", share.index, generator.samples, duration, time.process_time() - cpu


async def run_fleet(scenario: Scenario, url: str, plans: Sequence[Plan],
                    bots: Sequence[tuple[Account, int]], *, processes: int,
                    book_path: str, label: str) -> FleetResult:
    """Run the plan from `processes` generator processes started afresh."""
    ctx = mp.get_context("spawn")  # never fork a process that runs an event loop
    ready, go = ctx.Barrier(processes + 1), ctx.Barrier(processes + 1)
    start = ctx.Value("d", 0.0, lock=False)
    counts = ctx.Array("q", processes * len(SLOTS), lock=False)
    results = ctx.Queue()
    procs = [ctx.Process(target=_work, daemon=True, name=f"surge-generator-{i}",
                         args=(Share(i, processes, url, book_path, scenario,
                                     plans[i::processes], bots[i::processes]),
                               ready, go, start, counts, results))
             for i in range(processes)]
    for proc in procs:
        proc.start()
    total = len(plans) + sum(p.retry for p in plans) + len(bots) * scenario.behaviour.bot_requests
    try:
        try:
            await asyncio.to_thread(ready.wait, _START_SECONDS)
        except Exception as exc:  # a process died while starting: its traceback says why
            raise RuntimeError(f"a generator process failed to start: {_first_error(results)}"
                               ) from exc
        # Far enough ahead that every process is past the second barrier in time.
        start.value = time.monotonic() + 0.1
        await asyncio.to_thread(go.wait, _START_SECONDS)
        cpu = time.process_time()
        reports = await reports_of(results, procs, Progress(total, label), counts)
        cpu = time.process_time() - cpu
    finally:
        reap(procs)
    return FleetResult([s for r in reports for s in r[2]], max(r[3] for r in reports),
                       cpu + sum(r[4] for r in reports), processes)


async def reports_of(results: Any, procs: Sequence[Any], progress: Progress,
                     counts: Any) -> list[Any]:
    """Every process's report, `progress` kept current from their counts meanwhile; raises
    with the first failed process's traceback."""
    with progress:
        watcher = asyncio.create_task(watch(progress, counts, len(procs)))
        try:
            reports = await asyncio.to_thread(collect, results, procs)
        finally:
            watcher.cancel()
        tally(progress, counts, len(procs))
    errors = [r for r in reports if r[0] == "error"]
    if errors:
        raise RuntimeError(f"generator process {errors[0][1]} failed:\n{errors[0][2]}")
    return reports


def reap(procs: Sequence[Any]) -> None:
    """Wait a little for each process to exit, and kill the ones that do not."""
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()


def collect(results: Any, procs: Sequence[Any]) -> list[Any]:
    """Every process's report; raises if one died without reporting (killed, out of
    memory) rather than waiting for it forever."""
    reports: list[Any] = []
    while len(reports) < len(procs):
        try:
            reports.append(results.get(timeout=1.0))
        except queue.Empty:
            # A process puts its report before it exits; one that is gone and has not
            # reported (after a last look at the queue) never will.
            if sum(p.exitcode is not None for p in procs) > len(reports) and results.empty():
                raise RuntimeError("a generator process died without reporting") from None
    return reports


def _first_error(results: Any) -> str:
    try:
        report = results.get(timeout=1)
    except Exception:
        return "no report"
    return str(report[2]) if report[0] == "error" else "no error reported"


def tally(progress: Progress, counts: Any, processes: int) -> None:
    """Show on `progress` the answers every process has counted so far."""
    totals: Counter[int] = Counter()
    for row in range(processes):
        for i, status in enumerate(SLOTS):
            totals[status] += counts[row * len(SLOTS) + i]
    progress.counts = +totals
    progress.done = sum(totals.values())


async def watch(progress: Progress, counts: Any, processes: int) -> None:
    """Keep `progress` current with the processes' counts until cancelled."""
    while True:
        tally(progress, counts, processes)
        await asyncio.sleep(0.25)  # a display refresh, not a synchronisation
