"""`make bench`: the side-by-side benchmark on this machine, whole stack included.

Starts a fresh local gateway (and, with RabbitMQ, its shard workers) per run and loads it
with `hot-event`: the bare gateway's ceiling (same authentication and parsing, no booking),
`locked`, `queued`, `queued` without coalescing, and `queued` at 1,000 req/s for latency.
Prints the table; writes `.bench/latest.json` with `gateway_ceiling_rps` beside the rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from engine.auth import TokenIssuer
from engine.settings import Secret, Settings
from engine.storage import create_pool
from engine.storage.database import ensure_database
from ops.surge import scenario as scenarios
from ops.surge.report import RunResult, chart, table
from ops.surge.runner import run_surge
from ops.surge.stack import local_gateway

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/ticketwar_bench"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
SCENARIO = Path(__file__).parent / "scenarios" / "hot-event.toml"
#: Every buyer books about once, so per-user limits stay out of the way of the measurement.
UNLIMITED = {"RATE_LIMIT_BOOKING": "1000000/second", "RATE_LIMIT_DEFAULT": "1000000/second"}


async def bench_stack(prefix: str) -> tuple[Settings, dict[str, str]]:
    """The settings a measurement reads the database with, and the environment of the local
    gateways it starts: DATABASE_URL and AMQP_URL as set (else the local defaults, the
    database created if missing), one JWT secret for both, rate limits out of the way."""
    db = os.environ.get("DATABASE_URL", DEFAULT_DB)
    amqp = os.environ.get("AMQP_URL", DEFAULT_AMQP)
    await ensure_database(db)
    settings = Settings(database_url=Secret(db), data_dir=Path(".bench")).with_jwt_secret()
    assert settings.jwt_secret is not None
    return settings, {"DATABASE_URL": db, "AMQP_URL": amqp, "AMQP_PREFIX": prefix,
                      "JWT_SECRET": settings.jwt_secret.reveal(), **UNLIMITED}


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement; returns the JSON report."""
    settings, env = await bench_stack("ticketwar-bench")
    base_env = {**env, "BENCH_ENDPOINTS": "1"}
    scenario = scenarios.load(args.scenario)
    if args.requests:
        scenario = replace(scenario, load=replace(scenario.load, requests=args.requests),
                           buyers=replace(scenario.buyers, count=args.requests))
    # Throughput is measured at saturation (closed loop: each worker sends its next request
    # when the last is answered); latency at a fixed 1,000 req/s arrival rate (open loop).
    saturate = replace(scenario, load=replace(scenario.load, mode="concurrency",
                                              concurrency=args.concurrency))
    slow = replace(scenario, load=replace(scenario.load, mode="rate", rate=1000.0))
    runs: list[tuple[str, str, scenarios.Scenario, dict[str, str], str]] = [
        ("gateway-ceiling", "queued", saturate, {}, "/api/bench/book/{event_id}"),
        ("locked", "locked", saturate, {}, ""),
        ("queued", "queued", saturate, {}, ""),
        ("queued-no-coalescing", "queued", saturate, {"COALESCE_MS": "0"}, ""),
        ("queued@1000rps", "queued", slow, {}, ""),
    ]
    pool = await create_pool(settings)
    results: list[RunResult] = []
    try:
        for label, strategy, scen, env, path in runs:
            async with local_gateway(strategy, {**base_env, **env}) as url:
                kwargs = {"book_path": path} if path else {}
                result = await run_surge(scen, url, pool, TokenIssuer(settings),
                                         strategy=label, seed=args.seed, **kwargs)
            results.append(result)
    finally:
        await pool.close()
    ceiling = results[0].stats.throughput_rps
    rows = [r.to_json() for r in results[1:]]
    for row in rows:
        row["ratio_to_ceiling"] = round(row["throughput_rps"] / ceiling, 3) if ceiling else None
    by = {r["strategy"]: r for r in rows}
    report = {
        "scenario": scenario.name, "machine": _machine(), "gateway_ceiling_rps": round(ceiling, 1),
        "runs": rows,
        "goals": {
            "queued_over_locked": _ratio(by["queued"], by["locked"]),
            "queued_over_ceiling": by["queued"]["ratio_to_ceiling"],
            "queued_p99_confirmed_ms_at_1000rps": by["queued@1000rps"]["confirmed_p99_ms"],
            "coalescing_gain": _ratio(by["queued"], by["queued-no-coalescing"]),
            "local_rejections_share": round(by["queued"]["local_rejections"]
                                            / max(by["queued"]["statuses"].get("409", 0), 1), 3),
        },
    }
    print(table(results))
    print(orjson.dumps(report["goals"], option=orjson.OPT_INDENT_2).decode())
    _write(Path(".bench"), report, chart(results))
    print("wrote .bench/latest.json and .bench/latest.html")
    return report


def _write(out: Path, report: dict[str, Any], html: str) -> None:
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (out / "latest.html").write_text(html)


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    return round(a["throughput_rps"] / b["throughput_rps"], 2) if b["throughput_rps"] else None


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                             capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "system": platform.platform()}


def main() -> None:
    """Entry point of `python -m ops.bench`."""
    import uvloop

    parser = argparse.ArgumentParser(
        prog="python -m ops.bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--requests", type=int, help="override the scenario's request count")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=256,
                        help="closed-loop workers for the throughput runs (default 256)")
    args = parser.parse_args()
    uvloop.run(bench(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
