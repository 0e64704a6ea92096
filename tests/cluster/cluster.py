"""What the cluster tests share: `ticketwar cluster` on the command line, the load host's
surge run in the background, its verdict, and the check that every host has rejoined."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from ops.cluster import brokerwatch, services, topology
from ops.cluster.state import State
from tests.helpers import assert_eventually

#: The surge of a fault test: long enough to cut a host in its middle and heal it before
#: it ends, short enough that the cluster group stays within a few minutes.
RATE = 80
SECONDS = 20


async def ticketwar(state_dir: Path, *args: str) -> str:
    """`ticketwar cluster ARGS`; its output (fails the test when it fails)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ops.cli", "cluster", "--state-dir", str(state_dir), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"ticketwar cluster {' '.join(args)}:\n{text[-3000:]}"
    return text


def load_state(state_dir: Path) -> State:
    """The cluster's saved state."""
    state = State.load(state_dir)
    assert state is not None, f"no cluster state in {state_dir}"
    return state


class Surge:
    """`python -m ops.cluster.load` on the load host, for the length of an `async with`:
    `selling()` returns once bookings are being confirmed; `result()` waits for the end and
    returns its report, the verdict printed and held clean."""

    def __init__(self, state_dir: Path, *, rate: float = RATE, seconds: float = SECONDS,
                 seats_share: float | None = None):
        self._args = ["--state-dir", str(state_dir), "--rate", str(rate),
                      "--seconds", str(seconds)]
        if seats_share is not None:  # seats per request offered (the load's default: 0.6)
            self._args += ["--seats-share", str(seats_share)]
        self._proc: asyncio.subprocess.Process | None = None
        #: The load's stderr (its progress lines, a traceback), beside the hosts' logs.
        self.log = load_state(state_dir).host_dir("load") / "surge.log"
        self.started = 0.0

    async def __aenter__(self) -> Surge:
        with self.log.open("ab") as err:  # noqa: ASYNC230 (opened once, not awaited)
            self._proc = await asyncio.create_subprocess_exec(
                *services.in_namespace(topology.host("load"), [
                    sys.executable, "-m", "ops.cluster.load", *self._args]),
                stdout=asyncio.subprocess.PIPE, stderr=err)
        self.started = time.monotonic()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()

    async def selling(self) -> None:
        """Return once the surge has confirmed bookings (the moment to cut a host)."""
        assert self._proc is not None and self._proc.stdout is not None
        async with asyncio.timeout(120):
            while not (await self._proc.stdout.readline()).startswith(b"booked"):
                assert self._proc.returncode is None, "the load ended before selling"

    async def result(self) -> dict[str, Any]:
        """The surge's report once it ended; its verdict printed and asserted clean."""
        assert self._proc is not None
        async with asyncio.timeout(300):
            out, _ = await self._proc.communicate()
        rows = [json.loads(line.split(" ", 1)[1]) for line in out.decode().splitlines()
                if line.startswith("result ")]
        assert rows, f"the load printed no result:\n{self.log.read_text()[-3000:]}"
        r = rows[0]
        taken = [line for line in out.decode().splitlines() if line.startswith("taken over ")]
        r["taken_over"] = int(taken[0].split()[2]) if taken else 0
        print(f"surge took {time.monotonic() - self.started:.1f}s: {r['requests']} attempts, "
              f"answers {r['statuses']}")
        print(f"verdict: {r['verdict']}; {r['taken_over']} events taken over by a standby")
        assert r["violations"] == [], r["violations"]
        for line in r.get("unanswered_evidence") or ():
            print(line)
        assert r["clean"] and r["confirmed_seats"] > 0, r["verdict"]
        assert self._proc.returncode == 0
        return r


async def surge_with_a_timed_cut(state_dir: Path, host: str, seconds: float) -> dict[str, Any]:
    """A surge with `host` cut from every network for `seconds` once it sells, then
    healed; the surge's report (its verdict clean, see `Surge.result`)."""
    async with Surge(state_dir) as surge:
        await surge.selling()
        await ticketwar(state_dir, "cut", host)
        await asyncio.sleep(seconds)  # the fault's length, not a wait for anything
        await ticketwar(state_dir, "heal", host)
        return await surge.result()


async def node_of(state_dir: Path, h: topology.Host,
                  among: tuple[str, ...] = ("mq1", "mq2", "mq3")) -> str | None:
    """The broker node (of `among`) host `h` has a connection open on now (None: none),
    asked of the first of `among` that answers (it lists the connections of every node it
    reaches)."""
    state = load_state(state_dir)
    nodes = {topology.host(n).address("broker"): n for n in among}
    for via in nodes.values():
        try:
            seen = await asyncio.to_thread(services.connections, state, topology.host(via))
        except (services.ClusterError, subprocess.TimeoutExpired):
            continue  # a node cut off (or paused) may answer nothing
        return next((nodes[node] for node, peer in seen
                     if peer == h.address("broker") and node in nodes), None)
    return None


async def _whole(state_dir: Path) -> bool:
    state = load_state(state_dir)
    status = await ticketwar(state_dir, "status")
    hosts = [line.split() for line in status.splitlines()[1:len(topology.HOSTS) + 1]]
    if "(dead)" in status or any(len(h) < 4 or h[3] != "-" for h in hosts):
        return False  # a process died, or a host is still cut
    mq1 = topology.host("mq1")
    try:
        running = await asyncio.to_thread(services.rabbitmqctl, state, mq1, "eval",
                                          "length(rabbit_nodes:all_running()).", timeout=30)
        queues = await asyncio.to_thread(services.queue_table, state, mq1)
    except (services.ClusterError, subprocess.TimeoutExpired) as exc:
        print(f"not whole yet: {exc}")
        return False
    shards = [q for q in queues if ".shard." in q[0]]
    healthy = [await asyncio.to_thread(services.gateway_healthy, g)
               for g in topology.of_role("gateway")]
    return (running.strip() == str(len(topology.of_role("rabbitmq")))
            and len(shards) == topology.SHARDS
            and all(q[2] == str(topology.WORKERS) for q in shards) and all(healthy))


async def rejoined(state_dir: Path, timeout: float = 120) -> None:
    """Every host is back on its own: none cut, every process of `up` alive (none was
    restarted by hand), the three RabbitMQ nodes running together, every worker consuming
    every shard queue (active or standby) and both gateways healthy."""
    started = time.monotonic()
    try:
        await assert_eventually(lambda: _whole(state_dir), timeout=timeout, interval=1,
                                message="the cluster did not become whole again by itself")
    except AssertionError as exc:
        # CI keeps only the test's output: say there why, while the nodes still show it.
        raise AssertionError(f"{exc}\n{await asyncio.to_thread(broker_diagnosis, state_dir)}"
                             ) from None
    print(f"cluster whole after {time.monotonic() - started:.1f}s")
    if restarts := {name: n for name, n in watch_restarts(state_dir).items() if n}:
        # Not a failure of ours, but worth seeing: RabbitMQ's own recovery hung.
        print(f"nodes their broker watch restarted since up: {restarts}")


def watch_restarts(state_dir: Path) -> dict[str, int]:
    """How many times each node's broker watch (ops/cluster/brokerwatch.py, whose log is
    the node's `rabbitmq.log`) restarted a node stuck down since `up`."""
    state = load_state(state_dir)
    restarts = {}
    for mq in topology.of_role("rabbitmq"):
        log = state.host_dir(mq.name) / "rabbitmq.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        restarts[mq.name] = sum(brokerwatch.RESTARTED in line for line in text.splitlines())
    return restarts


#: Per node: who it is connected to, whether its rabbit application runs, the partitions
#: it has recorded.
_NODE_VIEW = "{nodes(), rabbit:is_running(), (catch rabbit_node_monitor:partitions())}."
#: What in a node's log (or its watch's) tells why it stopped or did not start again.
_TELLING = ("minority", "partition", "asked to st", "Time to start", "startup complete",
            "BOOT FAILED", "Successfully stopped", "[error]", "' up", "' down",
            "Global hang", "unexpected message", "brokerwatch")


def broker_diagnosis(state_dir: Path, lines: int = 25) -> str:
    """Each RabbitMQ node's own view of the cluster and the telling lines at the end of its
    log and its watch's: what a failed `rejoined` prints, for a run whose logs nobody can
    open later."""
    state = load_state(state_dir)
    report = []
    for mq in topology.of_role("rabbitmq"):
        try:
            view = services.rabbitmqctl(state, mq, "eval", _NODE_VIEW, timeout=30).strip()
        except (services.ClusterError, subprocess.TimeoutExpired) as exc:
            view = f"no answer: {str(exc)[:300]}"
        report.append(f"--- {mq.name}: {view}")
        logs = sorted((state.host_dir(mq.name) / "log").glob("*.log"))
        for log in [*logs, state.host_dir(mq.name) / "rabbitmq.log"]:
            if log.name.endswith("_upgrade.log") or not log.exists():
                continue
            telling = [line[:240] for line in log.read_text(errors="replace").splitlines()
                       if any(word in line for word in _TELLING)
                       and "ticketwar.reply" not in line and "ticketwar.stock" not in line]
            report += telling[-lines:]
    return "\n".join(report)
