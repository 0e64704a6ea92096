"""A surge through the cluster with one worker host cut off and healed in its middle:
`python -m ops.cluster.bench` (as root, the cluster up), figures for docs/benchmarks.md.

It runs the load host's surge (`ops.cluster.load`, every seat sellable, so selling never
stops for a sell-out), cuts the worker `--cut-after` seconds after the first confirmed
booking, heals it `--cut-for` seconds later, and reports seats confirmed per second before,
during and after the cut (from the load's `booked N` lines, timed here as they arrive), the
time from the cut to each standby's takeover (the `claimed EVENT EPOCH` lines: an event's
owner epoch rising past 1), and the surge's own answers per second and verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ops.cluster import harness, services, topology
from ops.cluster.state import DEFAULT_DIR, State


async def run(state_dir: Path, rate: float, seconds: float, worker: str, cut_after: float,
              cut_for: float) -> dict[str, Any]:
    """The surge with the cut; the figures."""
    load = await asyncio.create_subprocess_exec(
        *services.in_namespace(topology.host("load"), [
            sys.executable, "-m", "ops.cluster.load", "--state-dir", str(state_dir),
            "--rate", str(rate), "--seconds", str(seconds), "--seats-share", "1"]),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert load.stdout is not None
    booked: list[tuple[float, int]] = []
    claims: list[tuple[float, int, int]] = []
    lines: list[str] = []
    first = asyncio.get_running_loop().create_future()

    async def read() -> None:
        assert load.stdout is not None
        async for raw in load.stdout:
            line, now = raw.decode().strip(), time.monotonic()
            lines.append(line)
            if line.startswith("booked "):
                booked.append((now, int(line.split()[1])))
                if not first.done():
                    first.set_result(now)
            elif line.startswith("claimed "):
                _, event, epoch = line.split()
                claims.append((now, int(event), int(epoch)))

    reader = asyncio.create_task(read())
    try:
        start = await asyncio.wait_for(first, 180)
        await asyncio.sleep(max(0.0, start + cut_after - time.monotonic()))  # the schedule
        harness.cut(worker, None)
        cut_at = time.monotonic()
        await asyncio.sleep(cut_for)  # the fault's length
        harness.heal(worker)
        healed_at = time.monotonic()
        await asyncio.wait_for(load.wait(), seconds + 300)
        await reader
    finally:
        if load.returncode is None:
            load.kill()
    results = [json.loads(line.split(" ", 1)[1]) for line in lines
               if line.startswith("result ")]
    if not results:
        raise SystemExit("the load printed no result")
    takeovers = sorted(t - cut_at for t, _, epoch in claims if epoch > 1 and t > cut_at)
    taken = cut_at + takeovers[0] if takeovers else healed_at
    return {
        "rate": rate, "seconds": seconds, "worker": worker,
        "cut_at_s": round(cut_at - start, 1), "cut_for_s": cut_for,
        "seats_per_s": {
            "before": _rate(booked, start, cut_at),
            "during": _rate(booked, cut_at, healed_at),
            # The cut worker's events wait (their requests answered 202) until a standby
            # takes them over; then their backlog is decided at once.
            "cut_until_takeover": _rate(booked, cut_at, taken),
            "takeover_until_heal": _rate(booked, taken, healed_at),
            "after": _rate(booked, healed_at, booked[-1][0]),
        },
        "takeover_s": [round(t, 1) for t in takeovers],
        "verdict": results[0]["verdict"], "clean": results[0]["clean"],
        "statuses": results[0]["statuses"], "per_second": results[0]["per_second"],
        "p99_ms": results[0]["p99_ms"],
    }


def busiest(root: Path) -> str:
    """The worker host that is the active consumer of the most shard queues."""
    state = State.load(root)
    if state is None:
        raise SystemExit(f"no cluster state in {root}")
    active = services.active_consumers(state, topology.host("mq1"))
    shards = Counter(peer for queue, peer in active.items() if ".shard." in queue)
    return max(topology.of_role("worker"), key=lambda w: shards[w.address("broker")]).name


def _rate(booked: list[tuple[float, int]], start: float, end: float) -> float:
    """Seats confirmed per second between two instants (the last count at or before each)."""
    def at(t: float) -> int:
        return max((n for when, n in booked if when <= t), default=0)

    return round((at(end) - at(start)) / (end - start), 1) if end > start else 0.0


def main() -> None:
    """Run it; print the figures as JSON (and write them to --out)."""
    parser = argparse.ArgumentParser(prog="python -m ops.cluster.bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--rate", type=float, default=150, help="requests/s offered")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--cut", help="the worker host to cut (default: the one active for "
                        "the most shard queues; a cut worker stays standby after it)")
    parser.add_argument("--cut-after", type=float, default=15,
                        help="seconds after the first confirmed booking")
    parser.add_argument("--cut-for", type=float, default=20, help="seconds the cut lasts")
    parser.add_argument("--out", type=Path, default=Path(".bench") / "cluster.json")
    args = parser.parse_args()
    root = args.state_dir.resolve()
    figures = asyncio.run(run(root, args.rate, args.seconds, args.cut or busiest(root),
                              args.cut_after, args.cut_for))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1))
    print(json.dumps({k: v for k, v in figures.items() if k != "per_second"}, indent=1))
    sys.exit(0 if figures["clean"] else 1)


if __name__ == "__main__":
    main()
