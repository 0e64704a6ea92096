"""`make bench`: the side-by-side benchmark on this machine, whole stack included.

Starts a fresh local gateway (and, with RabbitMQ, its shard workers) per row. On `hot-event`:
the bare gateway's ceiling (same authentication and parsing, no booking), `locked`,
`queued`, `queued` without coalescing, and `queued` at 1,000 req/s for latency; each row
also reports its selling phase (seats per second from the first 201 to the last, and when
the event sold out). On `many-events` (200 events, no sold-out shortcut: the group-commit
test): `locked` and `queued`, in confirmed bookings per second. Every row reports the CPU
of the load generator beside the server's, and the queued rows the broker messages per
request. `--repeat N` runs everything N times; the ratios are taken within each run and
the medians reported. Writes `.bench/latest.json` and `.bench/latest.html`.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from engine.auth import TokenIssuer
from engine.settings import Secret, Settings
from engine.storage import create_pool
from engine.storage.database import ensure_database
from ops.bench_summary import medians, ratios, summary_table
from ops.surge import scenario as scenarios
from ops.surge.broker_counts import per_request, scrape
from ops.surge.chart import chart
from ops.surge.report import RunResult, table
from ops.surge.runner import run_surge
from ops.surge.stack import free_port, local_gateway

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/ticketwar_bench"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
SCENARIOS = Path(__file__).parent / "scenarios"
SCENARIO = SCENARIOS / "hot-event.toml"
MANY_EVENTS = SCENARIOS / "many-events.toml"
#: Every buyer books about once, so per-user limits stay out of the way of the measurement.
UNLIMITED = {"RATE_LIMIT_BOOKING": "1000000/second", "RATE_LIMIT_DEFAULT": "1000000/second"}
#: Shard workers `ticketwar run` starts (its default), each serving metrics on a port.
WORKERS = 2


async def bench_stack(prefix: str) -> tuple[Settings, dict[str, str]]:
    """The settings a measurement reads the database with, and the environment of the local
    gateways it starts: DATABASE_URL and AMQP_URL as set (else the local defaults, the
    database created if missing), one JWT secret for both, rate limits out of the way."""
    db = os.environ.get("DATABASE_URL", DEFAULT_DB)
    amqp = os.environ.get("AMQP_URL", DEFAULT_AMQP)
    await ensure_database(db)
    settings = Settings(database_url=Secret(db), data_dir=Path(".bench")).with_jwt_secret()
    assert settings.jwt_secret is not None
    prefix = os.environ.get("AMQP_PREFIX", prefix)
    return settings, {"DATABASE_URL": db, "AMQP_URL": amqp, "AMQP_PREFIX": prefix,
                      "JWT_SECRET": settings.jwt_secret.reveal(), **UNLIMITED}


@dataclass(frozen=True)
class Row:
    """One measurement: a label, the strategy and scenario, extra settings, the path."""

    label: str
    strategy: str
    scenario: scenarios.Scenario
    env: dict[str, str] = field(default_factory=dict)
    book_path: str = ""


def rows(args: argparse.Namespace) -> list[Row]:
    """The bench's rows, scenarios sized by the arguments; `--only` keeps some."""
    hot = scenarios.load(args.scenario)
    if args.requests:
        hot = replace(hot, load=replace(hot.load, requests=args.requests),
                      buyers=replace(hot.buyers, count=args.requests))
    # Throughput is measured at saturation (closed loop: each worker sends its next request
    # when the last is answered); latency at a fixed 1,000 req/s arrival rate (open loop).
    saturate = replace(hot, load=replace(hot.load, mode="concurrency",
                                         concurrency=args.concurrency))
    slow = replace(hot, load=replace(hot.load, mode="rate", rate=1000.0))
    many = scenarios.load(MANY_EVENTS)
    if args.many_requests:
        many = scenarios.scaled(many, args.many_requests)
    all_rows = [
        Row("gateway-ceiling", "queued", saturate, book_path="/api/bench/book/{event_id}"),
        Row("locked", "locked", saturate),
        Row("queued", "queued", saturate),
        Row("queued-no-coalescing", "queued", saturate, {"COALESCE_MS": "0"}),
        Row("queued@1000rps", "queued", slow),
        Row("many-events/locked", "locked", many),
        Row("many-events/queued", "queued", many),
    ]
    if args.only:
        keep = set(args.only)
        unknown = keep - {r.label for r in all_rows}
        if unknown:
            raise SystemExit(f"--only: unknown row(s) {', '.join(sorted(unknown))}")
        all_rows = [r for r in all_rows if r.label in keep]
    return all_rows


def _metrics_ports(count: int) -> int:
    """A port p with p .. p + count - 1 free, for processes that serve metrics at base + i."""
    while True:
        port = free_port()
        if port + count < 65536 and all(_free(port + i) for i in range(1, count)):
            return port


def gateway_processes(args: argparse.Namespace) -> int:
    """How many gateway processes each row's `ticketwar run` starts (the engine's default
    is one per core)."""
    return int(args.gateway_processes or os.environ.get("GATEWAY_PROCESSES")
               or os.cpu_count() or 1)


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def measure(row: Row, base_env: dict[str, str], pool: asyncpg.Pool, issuer: TokenIssuer,
                  args: argparse.Namespace) -> tuple[RunResult, dict[str, Any]]:
    """One row on a fresh gateway: the surge, then (queued) the broker counters."""
    # Every process serves its own metrics (port 8080's /metrics answers for whichever
    # gateway process the kernel picks): gateways at g + i, shard workers at s + i.
    gateways = gateway_processes(args)
    g = _metrics_ports(gateways + WORKERS)  # one block: nothing binds them before the run
    s = g + gateways
    env = {**base_env, "GATEWAY_METRICS_PORT": str(g), "SHARD_METRICS_PORT": str(s),
           **row.env}
    pids: list[int] = []
    async with local_gateway(row.strategy, env, pids=pids) as url:
        result = await run_surge(row.scenario, url, pool, issuer, strategy=row.label,
                                 seed=args.seed, processes=args.generator_processes,
                                 server_pids=pids,
                                 book_path=row.book_path or "/api/events/{event_id}/book")
        broker = None
        if row.strategy == "queued" and not row.book_path:
            counts = await scrape(
                [f"http://127.0.0.1:{g + i}/metrics" for i in range(gateways)]
                + [f"http://127.0.0.1:{s + i}/metrics" for i in range(WORKERS)],
                keep=Path(".bench") / "metrics" / row.label.replace("/", "-"))
            broker = per_request(counts, result.stats.requests)
    seats = row.scenario.events.count * row.scenario.events.seats
    # The selling phase ends at the sell-out only if everything sold.
    sold_out = result.verdict.confirmed_seats >= seats and result.stats.selling is not None
    return result, {**result.to_json(), "label": row.label, "engine_strategy": row.strategy,
                    "sold_out": sold_out,
                    "time_to_sell_out_s": round(result.stats.selling.end_s, 3)
                    if sold_out and result.stats.selling is not None else None,
                    "broker_per_request": broker}


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement `args.repeat` times; returns the JSON report."""
    settings, env = await bench_stack("ticketwar-bench")
    base_env = {**env, "BENCH_ENDPOINTS": "1"}
    if args.gateway_processes:
        # Every row alike, the ceiling included: the ratios compare equal gateways.
        base_env["GATEWAY_PROCESSES"] = str(args.gateway_processes)
    plan = rows(args)
    pool = await create_pool(settings)
    issuer = TokenIssuer(settings)
    repetitions: list[list[dict[str, Any]]] = []
    last: list[RunResult] = []
    try:
        for n in range(args.repeat):
            results, json_rows = [], []
            for row in plan:
                result, json_row = await measure(row, base_env, pool, issuer, args)
                results.append(result)
                json_rows.append({**json_row, "run": n + 1})
            _ceiling_ratios(json_rows)
            repetitions.append(json_rows)
            for scenario in dict.fromkeys(r.scenario for r in results):
                print(table([r for r in results if r.scenario == scenario]))
            _print_broker(json_rows)
            for r in results:
                if r.cpu is not None and r.cpu.generator_cheaper is False:
                    print(f"! {r.strategy}: the load generator spent more CPU per request than"
                          " the server side: this row measures the client")
            last = results
    finally:
        await pool.close()
    summary = medians(repetitions)
    report = {
        "machine": _machine(), "repeat": args.repeat,
        "generator_processes": args.generator_processes,
        "gateway_processes": gateway_processes(args),
        "scenarios": sorted({r.scenario.name for r in plan}),
        "gateway_ceiling_rps": summary["rows"].get("gateway-ceiling", {}).get("throughput_rps"),
        "runs": [row for rep in repetitions for row in rep],
        "ratios_per_run": [ratios(rep) for rep in repetitions],
        "medians": summary,
        "goals": {**summary["ratios"], "generator_cheaper_in_every_row": all(
            r["cpu"]["generator_cheaper"] for rep in repetitions for r in rep if r["cpu"])},
    }
    print(summary_table(repetitions))
    _write(Path(".bench"), report, chart(last, summary_table(repetitions)))
    print("wrote .bench/latest.json and .bench/latest.html")
    return report


def _ceiling_ratios(json_rows: list[dict[str, Any]]) -> None:
    ceiling = next((r["throughput_rps"] for r in json_rows if r["label"] == "gateway-ceiling"),
                   None)
    for row in json_rows:
        row["ratio_to_ceiling"] = (round(row["throughput_rps"] / ceiling, 3) if ceiling
                                   else None)


def _print_broker(json_rows: list[dict[str, Any]]) -> None:
    for row in json_rows:
        if row["engine_strategy"] == "queued" and row["label"] != "gateway-ceiling":
            broker = row["broker_per_request"]
            print(f"broker messages per request, {row['label']}: "
                  f"{orjson.dumps(broker).decode() if broker else 'n/a'}")


def _write(out: Path, report: dict[str, Any], html: str) -> None:
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (out / "latest.html").write_text(html)


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
    parser.add_argument("--requests", type=int,
                        help="override hot-event's request count (and buyers)")
    parser.add_argument("--many-requests", type=int,
                        help="scale many-events to this many requests (default: as written)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every row N times; medians and per-run ratios (default 1)")
    parser.add_argument("--generator-processes", type=int, default=2,
                        help="load generator processes (default 2)")
    parser.add_argument("--gateway-processes", type=int,
                        help="GATEWAY_PROCESSES of every row (default: the engine's default)")
    parser.add_argument("--only", nargs="+", metavar="ROW",
                        help="run only these rows (e.g. queued many-events/queued)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=256,
                        help="closed-loop workers for the throughput runs (default 256)")
    args = parser.parse_args()
    uvloop.run(bench(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
