"""`ticketwar surge`: run a scenario against a gateway (or, with --compare, against a fresh
local gateway per strategy) and print, write and chart the results."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from engine.auth import TokenIssuer
from engine.settings import Settings
from engine.storage import create_pool
from ops.environment import database
from ops.surge import scenario as scenarios
from ops.surge.chart import chart
from ops.surge.report import RunResult, table
from ops.surge.runner import run_surge
from ops.surge.stack import local_gateway, log_summary

HELP = """\
Buyers are created in bulk straight in the database (and their tokens minted with the
engine's JWT secret), so the surge tool needs the same DATABASE_URL and JWT_SECRET (or
DATA_DIR) as the gateway. Exit code 1 when any invariant is violated.

A scenario with a [queue] section (ops/scenarios/queue-rush.toml: 50,000 buyers, 1,000
seats) puts a waiting room in front of its events' sale. Its queue opens prequeue_seconds
before the sale and every buyer joins it, the pre-queue spread over that window and
late_fraction of them just after the opening; each asks GET /api/queue/{id} again no sooner
than the answer's refreshAfterSeconds (`listeners` of them also hold GET /api/stream open),
books once admitted, and sneak_fraction of them try once to book out of turn. The checker
applies `ticketwar queue audit`'s rules to the admission order (the shuffled pre-queue, then
first in, first out) and proves that nobody booked without an admission, nobody was
admitted after the sell-out and every seat was sold once; the table gives the joins per
second absorbed, the p50 / p99 of a status change reaching its buyer (polled and pushed)
and the time from the opening to the sell-out. --requests N plays it with N buyers (seats
and windows in proportion). It needs the queued strategy (locked and naive answer 409
waiting_room_needs_queued, which the report says); --processes N plays the buyers from N
generator processes (the queue then opens 10 s after the room is made, so they are ready).

examples:
  ticketwar surge ops/scenarios/hot-event.toml --url http://127.0.0.1:8080
  ticketwar surge ops/scenarios/hot-event.toml --compare naive,locked,queued --json out.json
  ticketwar surge ops/scenarios/queue-rush.toml --compare queued --requests 5000
"""


def add_parser(sub: Any) -> None:
    """Register `surge` on the CLI's subparsers."""
    p = sub.add_parser("surge", help="run a surge scenario and check the invariants",
                       description="Run a scripted surge and check the engine's promises.",
                       epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", type=Path, help="a TOML file, e.g. ops/scenarios/hot-event.toml")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="gateway to load")
    p.add_argument("--compare", metavar="S1,S2",
                   help="start a fresh local gateway per strategy (naive,locked,queued)")
    p.add_argument("--strategy", default="unknown", help="label for --url runs")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    p.add_argument("--chart", type=Path, metavar="PATH", help="write an HTML chart")
    p.add_argument("--seed", type=int, default=1, help="randomness of the plan (default 1)")
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="load generator processes (default 1; make bench uses 2)")
    p.add_argument("--requests", type=int, metavar="N",
                   help="scale the scenario to N booking requests (buyers and seats alike)")
    p.add_argument("--expect-oversell", action="store_true",
                   help="naive demo: report oversell without failing the exit code")
    p.set_defaults(func=cmd_surge)


def cmd_surge(args: argparse.Namespace, configured: Settings) -> int:
    """Entry point of `ticketwar surge`."""
    import uvloop

    if args.chart and importlib.util.find_spec("matplotlib") is None:
        # Said before the surge, not after minutes of load.
        print("ticketwar surge: --chart needs matplotlib: pip install 'ticketwar[bench]'",
              file=sys.stderr)
        return 2
    try:
        scenario = scenarios.load(args.scenario)
        if args.requests is not None:
            scenario = scenarios.scaled(scenario, args.requests)
    except scenarios.ScenarioError as exc:
        print(f"ticketwar surge: {exc}", file=sys.stderr)
        return 2
    with database(configured) as settings:
        results = uvloop.run(_run_all(scenario, settings, args))
    print(table(results))
    payload = {"scenario": scenario.name, "runs": [r.to_json() for r in results]}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    if args.chart:
        args.chart.write_text(chart(results))
    return exit_code(results, args.expect_oversell)


def exit_code(results: list[RunResult], expect_oversell: bool) -> int:
    """1 if any run broke an invariant (oversell tolerated for naive when expected)."""
    for r in results:
        tolerated = expect_oversell or r.strategy == "naive"
        broken = [v for v in r.verdict.violations if not (tolerated and (
            v.startswith("I1") or v.startswith("I6")))]
        if broken:
            return 1
    return 0


async def _run_all(scenario: scenarios.Scenario, settings: Settings,
                   args: argparse.Namespace) -> list[RunResult]:
    settings = settings.with_jwt_secret()
    issuer = TokenIssuer(settings)
    pool = await create_pool(settings)
    try:
        if not args.compare:
            return [await run_surge(scenario, args.url.rstrip("/"), pool, issuer,
                                    strategy=args.strategy, seed=args.seed,
                                    processes=args.processes)]
        results = []
        assert settings.database_url is not None and settings.jwt_secret is not None
        env = {"DATABASE_URL": settings.database_url.reveal(),
               "JWT_SECRET": settings.jwt_secret.reveal()}
        for strategy in [s.strip() for s in args.compare.split(",") if s.strip()]:
            pids: list[int] = []
            log_path = (settings.data_dir / "surge-logs"
                        / f"{scenario.name}-{strategy}-{time.strftime('%Y%m%d-%H%M%S')}.log")
            async with local_gateway(strategy, env, pids=pids, log_path=log_path) as url:
                results.append(await run_surge(scenario, url, pool, issuer,
                                               strategy=strategy, seed=args.seed,
                                               processes=args.processes, server_pids=pids))
            print(log_summary(log_path), file=sys.stderr)
        return results
    finally:
        await pool.close()




__all__ = ["add_parser", "cmd_surge", "exit_code"]
