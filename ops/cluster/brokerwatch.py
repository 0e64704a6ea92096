"""`python -m ops.cluster.brokerwatch NODE -- rabbitmq-server`: a RabbitMQ host's keeper and
health check, what systemd's `Restart=` with a watchdog (or a liveness probe) does for a real
broker host: it runs the node, and restarts it when it is stuck.

`pause_minority` stops the `rabbit` application of a node that loses sight of the majority
and starts it again once the others answer. That start can hang for good: RabbitMQ 3.10
boots through `global:sync()`, which can hang after a partition, and its "global hang
workaround" (faking a nodedown/nodeup to `global`) no longer works from Erlang/OTP 25.1 on —
`global` ignores those messages (rabbitmq-server issue 6034, fixed in later RabbitMQ). This
machine has RabbitMQ 3.10.8 on OTP 25.2; CI met it, and a run here showed it: a healed node
"asked to start", its log ending at "Global hang workaround … Faking nodedown/nodeup" and
`global_name_server received an unexpected message`, its application never running again
beside two running peers.

Every `LOOK_SECONDS` the watch opens an AMQP connection to its node (the protocol header,
answered by `connection.start`: a health check a load balancer would make). While the port
is closed it asks the node whether `rabbit` runs and how many of the cluster's nodes it
reaches (pinging them first, as RabbitMQ's own recovery does). Once it has seen its node run
in a cluster (so a node being joined is never touched), a node not running while it reaches
a majority for `GRACE` seconds in a row — far longer than a boot takes — is stopped
(SIGTERM, SIGKILL past `STOP_SECONDS`) and started again: a fresh VM has a fresh `global`
and rejoins from its own data (seen here: the hang in the third of three broker cuts, the
cluster whole 63 s after the heal). A node that reaches only itself is paused as it should
be, and is left alone. A server that exits is started again too.

So is a node that is *wedged*: its port takes connections (the kernel completes them into
the listen backlog) but it answers none, for `GRACE` seconds in a row. CI met that too, a
node healed from a cut that went on using 60% of a core, logging nothing, answering neither
AMQP nor rabbitmqctl, while its two peers timed it out (`net_tick_timeout`); a check of the
port alone took it for up. Each look costs the node three log lines (a connection accepted,
then closed by the client), as any load balancer's health check does.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType

from ops.cluster.services import RABBIT_BIN

log = logging.getLogger("brokerwatch")

#: Seconds between two checks that the server is still there.
INTERVAL = 2.0
#: Seconds between two looks: an AMQP handshake once armed, and through rabbitmqctl (a VM of
#: its own, ~0.5 s of CPU) while the port is closed, or until the node was first seen in its
#: cluster.
LOOK_SECONDS = 10.0
#: Seconds a node has to answer the AMQP protocol header (a running node takes
#: milliseconds, a busy one on this machine well under a second).
HANDSHAKE_SECONDS = 5.0
#: Seconds a node must stay down with a majority in sight before the watch restarts it: its
#: own recovery starts it within a second or two of the majority's return, and a boot on
#: this loaded machine takes seconds.
GRACE = 45.0
#: Seconds the server has to stop on SIGTERM before it is killed.
STOP_SECONDS = 20.0
#: What the watch asks the node (with RabbitMQ stopped, the cluster's members come from
#: the node's cluster status file, as for its own recovery).
_LOOK = ("Nodes = rabbit_mnesia:cluster_nodes(all),"
         " [net_adm:ping(N) || N <- Nodes],"
         " Seen = [N || N <- Nodes, lists:member(N, [node() | nodes()])],"
         " io:format(\"~s ~b ~b~n\", [rabbit:is_running(), length(Seen), length(Nodes)]).")
#: The log line of each restart, counted by the cluster tests.
RESTARTED = "restarted a node stuck down"


@dataclass(frozen=True)
class Look:
    """What the node said: whether `rabbit` runs, nodes it reaches (itself included), of how
    many in its cluster."""

    running: bool
    seen: int
    members: int

    @property
    def majority(self) -> bool:
        """Whether the node reaches more than half of its cluster."""
        return self.seen * 2 > self.members


def parse(out: str) -> Look | None:
    """The answer to `_LOOK`: its first line (eval then prints the call's value, `ok`);
    None when it is not one."""
    words = out.split("\n", 1)[0].split()
    if len(words) != 3 or words[0] not in ("true", "false"):
        return None
    try:
        return Look(words[0] == "true", int(words[1]), int(words[2]))
    except ValueError:
        return None


def _ctl(node: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", node, *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def look(node: str) -> Look | None:
    """Ask the node; None when it does not answer (its VM not up yet, or busy)."""
    try:
        done = _ctl(node, "eval", _LOOK, timeout=30)
    except subprocess.TimeoutExpired:
        return None
    return parse(done.stdout) if done.returncode == 0 else None


class Watch:
    """Decides from successive looks when to restart the node: `due(look, now)` is true
    once it has been down with a majority in sight for `grace` seconds in a row."""

    def __init__(self, grace: float = GRACE) -> None:
        self._grace = grace
        self._stuck_since: float | None = None

    def reset(self) -> None:
        """The node was seen running: any stuck clock starts again."""
        self._stuck_since = None

    def due(self, seen: Look | None, now: float) -> bool:
        """Whether to restart the node now (the clock starts again after each restart)."""
        if seen is None or seen.running or not seen.majority:
            self.reset()  # unknown, running, or paused as it should be
            return False
        return self.stuck(now)

    def stuck(self, now: float) -> bool:
        """The node is stuck at `now` (down with a majority in sight, or wedged): whether it
        has been so for the whole grace, and is to be restarted now."""
        if self._stuck_since is None:
            self._stuck_since = now
            return False
        if now - self._stuck_since < self._grace:
            return False
        self.reset()
        return True


class Server:
    """The node's `rabbitmq-server`, a child in a session of its own (so a stuck VM can be
    killed with everything it started)."""

    def __init__(self, cmd: list[str]) -> None:
        self._cmd = cmd
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (its output goes where ours does)."""
        self._proc = subprocess.Popen(self._cmd, start_new_session=True,
                                      stdin=subprocess.DEVNULL)
        log.info("started %s (pid %d)", " ".join(self._cmd), self._proc.pid)

    def exited(self) -> int | None:
        """The server's exit code once it has exited, else None."""
        return None if self._proc is None else self._proc.poll()

    def stop(self) -> None:
        """SIGTERM (the server stops its node), then SIGKILL to its whole session."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("the server did not stop within %.0fs: SIGKILL", STOP_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)  # the VM and epmd's helpers with it
        self._proc.wait()


class Port(enum.Enum):
    """What the node's AMQP port did with a connection."""

    ANSWERS = "answers"  # `connection.start` came back: the broker serves
    CLOSED = "closed"  # refused, or closed unanswered: `rabbit` is not running (its
    # listener closes when it stops), or the VM is going
    SILENT = "silent"  # taken and never answered, or not even taken: the VM is wedged


#: The AMQP 0-9-1 protocol header a client opens with.
_PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
#: The first byte of the broker's answer (`connection.start`): a method frame.
_METHOD_FRAME = 1


def handshake(host: str, port: int, timeout: float = HANDSHAKE_SECONDS) -> Port:
    """Open a connection to the node's AMQP port and send the protocol header: whether the
    broker answers — the cheap look, a socket instead of a rabbitmqctl VM."""
    try:
        conn = socket.create_connection((host, port), timeout=1)
    except TimeoutError:
        return Port.SILENT  # its listen backlog full of connections it never took
    except OSError:
        return Port.CLOSED
    with conn:
        try:
            conn.settimeout(timeout)
            conn.sendall(_PROTOCOL_HEADER)
            first = conn.recv(1)
        except TimeoutError:
            return Port.SILENT
        except OSError:
            return Port.CLOSED
    return Port.ANSWERS if first and first[0] == _METHOD_FRAME else Port.CLOSED


def _restart(server: Server, node: str, why: str) -> None:
    log.warning("%s: %s; restarting it", node, why)
    server.stop()
    server.start()
    log.warning("%s: %s", node, RESTARTED)


def watch(node: str, port: int, server: Server, stop: threading.Event,
          grace: float = GRACE) -> None:
    """Keep the server running and its node unstuck until `stop` is set."""
    host = node.split("@", 1)[1]
    decide = Watch(grace)
    armed = False
    last: Look | None = None
    next_look = 0.0
    server.start()
    while not stop.wait(INTERVAL):
        if (code := server.exited()) is not None:
            log.warning("the server exited (%d); starting it again", code)
            decide, armed = Watch(grace), False
            server.start()
            continue
        now = time.monotonic()
        if now < next_look:
            continue
        next_look = now + LOOK_SECONDS
        port_is = handshake(host, port) if armed else Port.CLOSED
        if port_is is Port.ANSWERS:
            decide.reset()
            continue
        if port_is is Port.SILENT:
            if decide.stuck(now):
                _restart(server, node, f"its port answered no connection for {grace:.0f}s")
            continue
        seen = look(node)
        if seen is not None and seen != last:
            log.info("%s: rabbit %s, reaches %d of %d nodes", node,
                     "running" if seen.running else "stopped", seen.seen, seen.members)
            last = seen
        # Armed once the node ran in a cluster: `up` stops a node to join it to the others.
        armed = armed or (seen is not None and seen.running and seen.seen == seen.members > 1)
        if armed and decide.due(seen, now):
            _restart(server, node, f"not running for {grace:.0f}s with a majority in sight")
    server.stop()


def main() -> None:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.cluster.brokerwatch",
        description="Run a RabbitMQ node and restart it when it stays down while reaching "
                    "a majority of its cluster (a recovery that hung), or when it exits. "
                    "Runs until SIGTERM; rabbitmqctl finds the cookie in $HOME.")
    parser.add_argument("node", help="the node's name, e.g. rabbit@10.231.1.11")
    parser.add_argument("server", nargs="+", help="the command that runs the node, after --")
    parser.add_argument("--port", type=int, default=5672,
                        help="the node's AMQP port, watched between looks (default 5672)")
    parser.add_argument("--grace", type=float, default=GRACE,
                        help=f"seconds down with a majority in sight before the restart "
                             f"(default {GRACE:.0f})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    watch(args.node, args.port, Server(args.server), stop, args.grace)


if __name__ == "__main__":
    main()
