"""`make soak`: overload without collapse, measured on this machine, whole stack included.

One local gateway over RabbitMQ with its shard workers, kept for the whole run:

1. a sweep of offered rates (open model: arrivals do not wait for answers), a short run
   each; capacity is the best goodput seen (final answers per second: 201, 409, 422);
2. two back-to-back soaks at twice that capacity, with retries of the same key and
   cancellations as real clients make them;
3. the gateway's resident memory before, between and after the soaks.

Every run goes through the surge checker (invariants, every answer against the database,
no booking behind a 503). Prints the verdict against the goals and writes .bench/soak.json.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from engine.auth import TokenIssuer
from engine.storage import create_pool
from ops.bench import bench_stack
from ops.surge import scenario as scenarios
from ops.surge.population import bulk_accounts
from ops.surge.report import RunResult, table
from ops.surge.runner import run_surge
from ops.surge.stack import local_gateway

SCENARIO = Path(__file__).parent / "scenarios" / "soak.toml"
FINAL = (201, 409, 422)


def goodput(result: RunResult) -> float:
    """Final answers per second of the run."""
    s = result.stats
    return sum(s.statuses.get(code, 0) for code in FINAL) / s.duration_s if s.duration_s else 0.0


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def gateway_rss_mib(pid: int) -> float:
    """Resident memory of the gateway `ticketwar run` (process `pid`) serves through: over
    RabbitMQ its gateway processes' summed (not the supervisor's, nor the workers'),
    in-process its own."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    gateways = [int(c) for c in children
                if Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")[1:3]
                == [b"-m", b"gateway"]]
    return sum(rss_mib(g) for g in gateways) if gateways else rss_mib(pid)


def at_rate(scenario: scenarios.Scenario, rate: float, seconds: float) -> scenarios.Scenario:
    """The scenario offered at `rate` requests per second for about `seconds`."""
    requests = int(rate * seconds)
    return replace(scenario, load=replace(scenario.load, mode="rate", rate=rate,
                                          requests=requests, max_seconds=seconds * 3),
                   buyers=replace(scenario.buyers, count=max(1, requests // 4)))


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep, the two soaks and the verdict."""
    settings, env = await bench_stack("ticketwar-soak")
    scenario = scenarios.load(args.scenario)
    pool = await create_pool(settings)
    issuer = TokenIssuer(settings)
    pids: list[int] = []
    sweep: list[RunResult] = []
    soaks: list[RunResult] = []
    memory: list[float] = []
    try:
        async with local_gateway("queued", env, pids=pids) as url:
            for rate in args.rates:
                sweep.append(await run_surge(at_rate(scenario, rate, args.sweep_seconds), url,
                                             pool, issuer, strategy=f"sweep@{rate:g}"))
            capacity = max(goodput(r) for r in sweep)
            offered = 2 * capacity
            memory.append(gateway_rss_mib(pids[0]))
            # One crowd for both soaks: the gateway's bounded caches (verified tokens, session
            # versions) hold the same buyers after the first soak as after the second, so
            # what the second adds is not a cache filling up with new people but a leak.
            load = at_rate(scenario, offered, args.soak_seconds)
            crowd = await bulk_accounts(pool, issuer, load.buyers.count)
            for n in (1, 2):
                soaks.append(await run_surge(load, url, pool, issuer, buyers=crowd,
                                             strategy=f"soak{n}@{offered:.0f}", seed=n))
                memory.append(gateway_rss_mib(pids[0]))
    finally:
        await pool.close()
    print(table(sweep + soaks))
    return _verdict(capacity, offered, sweep, soaks, memory)


def _write(report: dict[str, Any]) -> None:
    print(orjson.dumps(report["goals"], option=orjson.OPT_INDENT_2).decode())
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "soak.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print("wrote .bench/soak.json")


def _verdict(capacity: float, offered: float, sweep: list[RunResult], soaks: list[RunResult],
             memory: list[float]) -> dict[str, Any]:
    worst = min(soaks, key=goodput)
    return {
        "capacity_rps": round(capacity, 1), "offered_rps": round(offered, 1),
        "sweep": [{**r.to_json(), "goodput_rps": round(goodput(r), 1)} for r in sweep],
        "soaks": [{**r.to_json(), "goodput_rps": round(goodput(r), 1)} for r in soaks],
        "gateway_rss_mib": [round(m, 1) for m in memory],
        "goals": {
            "goodput_over_capacity": round(goodput(worst) / capacity, 3) if capacity else None,
            "p99_answered_ms": max(r.stats.p99_ms for r in soaks),
            "rss_growth_second_soak_mib": round(memory[2] - memory[1], 1),
            "answered_503": sum(r.stats.statuses.get(503, 0) for r in soaks),
            "checker_green": all(r.verdict.invariants_ok for r in sweep + soaks),
            "violations": [v for r in sweep + soaks for v in r.verdict.violations],
        },
    }


def main() -> None:
    """Entry point of `python -m ops.soak`."""
    import uvloop

    parser = argparse.ArgumentParser(
        prog="python -m ops.soak", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--rates", type=float, nargs="+", default=[150, 300, 450, 600, 800],
                        help="offered rates of the sweep, req/s (default 150 300 450 600 800)")
    parser.add_argument("--sweep-seconds", type=float, default=15,
                        help="length of each sweep run (default 15)")
    parser.add_argument("--soak-seconds", type=float, default=60,
                        help="length of each of the two soaks (default 60)")
    args = parser.parse_args()
    report = uvloop.run(soak(args))
    _write(report)
    sys.exit(0 if report["goals"]["checker_green"] else 1)


if __name__ == "__main__":
    main()
