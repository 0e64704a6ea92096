"""`python -m ops.capacity` (`make capacity`): the per-component costs of a request, measured
on this machine, and the hosts a sale of 100,000 and 1,000,000 requests per second needs.

Measures (ops/capacity/measure.py), then plans (ops/capacity/model.py); writes
`.bench/capacity.json` (every figure measured, the assumptions, the plans). `--from FILE`
plans again from an earlier report without measuring (other host sizes, other rates).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import orjson

from ops.capacity.model import KINDS, Hosts, Shape, plan

DEFAULT_RATES = (100_000, 1_000_000)
OUT = Path(".bench") / "capacity.json"


def plans(shapes: list[Shape], rates: list[float], hosts: Hosts) -> list[dict[str, Any]]:
    """Every shape at every rate, as JSON."""
    return [plan(s, r, hosts).to_json() for s in shapes for r in rates]


def render(shapes: list[Shape], planned: list[dict[str, Any]], hosts: Hosts) -> str:
    """The unit costs and the host counts, as the terminal shows them."""
    lines = ["unit costs (CPU ms)       gateway/req  worker/cmd  pg/row  broker/msg"
             "   cmds/req  rows/req  msgs/req  WAL B/row  stock/worker/s"]
    for s in shapes:
        lines.append(f"{s.name:<25} {s.gateway_ms_per_request:>11.3f} "
                     f"{s.worker_ms_per_command:>11.3f} {s.postgresql_ms_per_row:>7.4f} "
                     f"{s.broker_ms_per_message:>11.4f} {s.commands_per_request:>10.3f} "
                     f"{s.rows_per_request:>9.3f} {s.messages_per_request:>9.3f} "
                     f"{s.wal_bytes_per_row:>10.0f} {s.stock_per_worker_s:>15.1f}")
    lines.append(f"hosts of {hosts.cores} cores at {hosts.utilisation:.0%}, quorum queues of "
                 f"{hosts.broker_replicas}, WAL ceiling {hosts.wal_mb_per_s:.0f} MB/s (assumed),"
                 f" stock per gateway {'host' if hosts.stock_per_host else 'process'}")
    lines.append(f"{'shape':<14} {'req/s':>10} " + " ".join(f"{k:>16}" for k in KINDS)
                 + f" {'rows/s':>11} {'one primary':>12} {'stock msg/s':>12}")
    for p in planned:
        primary = f"{p['primary_rows_per_s']:,}" if p["primary_rows_per_s"] else "–"
        cells = " ".join(f"{p['needs'][k]['hosts']:>5} ({p['needs'][k]['cores']:>7.1f} c)"
                         for k in KINDS)
        lines.append(f"{p['shape']:<14} {p['rps']:>10,.0f} {cells} {p['rows_per_s']:>11,}"
                     f" {primary:>12} {p['stock_messages_per_s']:>12,}")
    return "\n".join(lines)


def main() -> None:
    """Entry point of `python -m ops.capacity`."""
    import uvloop

    from ops.capacity.measure import ROWS, measure

    parser = argparse.ArgumentParser(
        prog="python -m ops.capacity", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path,
                        help="plan from this earlier report instead of measuring")
    parser.add_argument("--shapes", nargs="+", choices=sorted(ROWS), default=sorted(ROWS))
    parser.add_argument("--requests", type=int, help="hot-event's requests (default 20000)")
    parser.add_argument("--many-requests", type=int,
                        help="many-events' requests (default as written, 12000)")
    parser.add_argument("--concurrency", type=int, default=48,
                        help="closed-loop buyers of both rows (default 48: under the"
                        " gateways' in-flight bound, so requests are decided, not shed)")
    parser.add_argument("--generator-processes", type=int, default=2)
    parser.add_argument("--gateway-processes", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rest-seconds", type=float, default=5.0,
                        help="an idle stack's CPU is read this long before each row")
    parser.add_argument("--insert-sizes", type=int, nargs="+", default=[256, 1024],
                        help="batch sizes of the raw-insert measurement")
    parser.add_argument("--insert-bookings", type=int, default=20_000)
    parser.add_argument("--rates", type=float, nargs="+", default=list(DEFAULT_RATES))
    parser.add_argument("--cores", type=int, default=Hosts.cores, help="cores per host")
    parser.add_argument("--utilisation", type=float, default=Hosts.utilisation)
    parser.add_argument("--wal-mb-per-s", type=float, default=Hosts.wal_mb_per_s)
    parser.add_argument("--stock-per-host", action="store_true",
                        help="plan with one stock subscription per gateway host")
    args = parser.parse_args()
    hosts = Hosts(cores=args.cores, utilisation=args.utilisation,
                  wal_mb_per_s=args.wal_mb_per_s, stock_per_host=args.stock_per_host)
    if args.source:
        report = orjson.loads(args.source.read_bytes())
        shapes = [Shape(**s) for s in report["shapes"]]
    else:
        measured = uvloop.run(measure(args))
        shapes = measured["shapes"]
        report = {**measured, "shapes": [asdict(s) for s in shapes]}
        # Kept before planning: a measurement takes minutes, a plan can be made again.
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    planned = plans(shapes, args.rates, hosts)
    relayed = replace(hosts, stock_per_host=True)
    report = {**report, "hosts": asdict(hosts), "plans": planned,
              "plans_with_stock_per_host": plans(shapes, args.rates, relayed)}
    print(render(shapes, planned, hosts))
    out = args.source.with_suffix(".plan.json") if args.source else OUT
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"wrote {out}")
    sys.exit(0)


if __name__ == "__main__":
    main()
