"""The load host's surge: `python -m ops.cluster.load`, run inside the load host by the
cluster test (or by hand with `ip netns exec tw-load`).

One surge per gateway at the same time (the CI scenario offered at a rate, so it lasts long
enough to cut a host in the middle), each checked by the surge checker against the cluster's
PostgreSQL. Lines on stdout: `booked N` while confirmed bookings grow (a sign that the surge
is selling, for whoever waits to cut), then one `result {json}` per gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import orjson

from engine.auth import TokenIssuer
from engine.settings import Settings
from engine.storage import create_pool
from ops.cluster import topology
from ops.cluster.state import State
from ops.soak import at_rate
from ops.surge import scenario as scenarios
from ops.surge.report import RunResult
from ops.surge.runner import run_surge

SCENARIO = Path(__file__).parents[1] / "scenarios" / "ci-small.toml"


async def surge(state: State, rate: float, seconds: float) -> list[RunResult]:
    """The surges through every gateway, with their verdicts."""
    settings = Settings.from_env({**os.environ, "DATABASE_URL": topology.database_url(),
                                  "JWT_SECRET": state.jwt_secret})
    scenario = at_rate(scenarios.load(SCENARIO), rate, seconds)
    pool = await create_pool(settings, apply_migrations=False)
    issuer = TokenIssuer(settings)
    watcher = asyncio.create_task(_watch(pool))
    try:
        return list(await asyncio.gather(*(
            run_surge(scenario, url, pool, issuer, strategy=f"cluster@{url}", seed=i + 1)
            for i, url in enumerate(topology.gateway_urls()))))
    finally:
        watcher.cancel()
        await pool.close()


async def _watch(pool: object) -> None:
    seen = 0
    while True:
        booked = await pool.fetchval(  # type: ignore[attr-defined]
            "SELECT count(*) FROM bookings WHERE status = 'confirmed'")
        if booked != seen:
            seen = booked
            print(f"booked {booked}", flush=True)
        await asyncio.sleep(0.5)  # a progress report, not a synchronisation


def main() -> None:
    """Run the surges; exit 1 if any verdict found a violation."""
    parser = argparse.ArgumentParser(prog="python -m ops.cluster.load")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=40, help="requests/s per gateway")
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    state = State.load(args.state_dir)
    if state is None:
        sys.exit(f"no cluster state in {args.state_dir}")
    import uvloop

    results = uvloop.run(surge(state, args.rate, args.seconds))
    for r in results:
        row = {**r.to_json(), "timeline": None, "violations": r.verdict.violations,
               "statuses": {str(k): v for k, v in sorted(r.stats.statuses.items())}}
        print("result " + orjson.dumps(row).decode(), flush=True)
    sys.exit(1 if any(r.verdict.violations or r.verdict.oversold_seats for r in results) else 0)


if __name__ == "__main__":
    main()
