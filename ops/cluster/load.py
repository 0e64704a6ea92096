"""The load host's surge: `python -m ops.cluster.load`, run inside the load host by the
cluster tests (or by hand with `ip netns exec tw-load`).

One surge over both gateways (the CI scenario offered at a rate, so it lasts long enough to
cut a host in the middle): buyers spread over the gateways, a failed or unanswered request
resent at the other with the same Idempotency-Key (ops/surge/failover.py), and the surge
checker's verdict against the cluster's PostgreSQL. Lines on stdout: `booked N` while
confirmed bookings grow (a sign that the surge is selling, for whoever waits to cut),
`claimed EVENT EPOCH` when an event gets a new owner, `taken over N events` at the end (the
run's events claimed more than once), then one `result {json}` with the verdict's figures
and the answers per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path

import asyncpg
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
#: Events of the surge: enough that every worker is active for some of them (the consistent
#: hash spreads their buckets over the 8 shard queues), so cutting any worker cuts selling.
EVENTS = 16


async def surge(state: State, rate: float, seconds: float, seats_share: float) -> RunResult:
    """The surge through every gateway, with its verdict; `seats_share`: seats over all
    events per request offered."""
    settings = Settings.from_env({**os.environ, "DATABASE_URL": topology.database_url(),
                                  "JWT_SECRET": state.jwt_secret})
    scenario = at_rate(scenarios.load(SCENARIO), rate, seconds)
    scenario = replace(scenario, events=replace(
        scenario.events, count=EVENTS,
        seats=max(1, int(rate * seconds * seats_share / EVENTS))))
    pool = await create_pool(settings, apply_migrations=False)
    issuer = TokenIssuer(settings)
    after = int(await pool.fetchval("SELECT coalesce(max(id), 0) FROM events"))
    watcher = asyncio.create_task(_watch(pool, after))
    try:
        result = await run_surge(scenario, topology.gateway_urls(), pool, issuer,
                                 strategy="cluster", settle_seconds=90)
        claims = await pool.fetchval(
            "SELECT count(*) FROM events WHERE id > $1 AND owner_epoch > 1", after)
        print(f"taken over {claims} events", flush=True)
        return result
    finally:
        watcher.cancel()
        await pool.close()


def per_second(result: RunResult) -> list[list[int]]:
    """[second, answers] per second of the run, by when the answer came."""
    seconds: dict[int, list[int]] = {}
    for t, answered, *_ in result.stats.timeline:
        seconds.setdefault(int(t), [int(t), 0])[1] += answered
    return [seconds[k] for k in sorted(seconds)]


async def _watch(pool: asyncpg.Pool, after: int) -> None:
    """Progress lines about the run's events (ids above `after`): `booked N` when their
    confirmed bookings grew, `claimed EVENT EPOCH` when one got a new owner (epoch 1: its
    first; 2 and on: taken over)."""
    seen, epochs = 0, {}
    while True:
        booked = await pool.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'"
                                     " AND event_id > $1", after)
        if booked != seen:
            seen = booked
            print(f"booked {booked}", flush=True)
        for r in await pool.fetch("SELECT id, owner_epoch FROM events WHERE id > $1", after):
            if epochs.setdefault(r["id"], r["owner_epoch"]) != r["owner_epoch"]:
                epochs[r["id"]] = r["owner_epoch"]
                print(f"claimed {r['id']} {r['owner_epoch']}", flush=True)
        await asyncio.sleep(0.5)  # a progress report, not a synchronisation


def main() -> None:
    """Run the surge; exit 1 unless its verdict is clean."""
    parser = argparse.ArgumentParser(prog="python -m ops.cluster.load")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=80, help="requests/s, all gateways")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--seats-share", type=float, default=0.6,
                        help="seats per request offered (default 0.6: the surge sells until "
                        "late in its run, so a cut in its middle cuts into the selling)")
    args = parser.parse_args()
    state = State.load(args.state_dir)
    if state is None:
        sys.exit(f"no cluster state in {args.state_dir}")
    import uvloop

    r = uvloop.run(surge(state, args.rate, args.seconds, args.seats_share))
    v = r.verdict
    row = {**r.to_json(), "timeline": None, "per_second": per_second(r),
           "verdict": v.summary(), "clean": v.clean, "lost": v.lost,
           "duplicates": v.duplicates, "pending": v.pending, "unanswered": v.unanswered,
           "contradicted": v.contradicted, "unanswered_evidence": v.unanswered_evidence,
           "resent_to": {str(g): n for g, n in v.resent_to.items()}}
    print("result " + orjson.dumps(row).decode(), flush=True)
    sys.exit(0 if v.clean else 1)


if __name__ == "__main__":
    main()
