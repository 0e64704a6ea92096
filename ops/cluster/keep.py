"""`python -m ops.cluster.keep -m shards`: a cluster host's process keeper, what its init
system (systemd's `Restart=`, a container's restart policy) does in a real deployment.

A shard worker exits on purpose when RabbitMQ stays away longer than
`RECONNECT_DEADLINE_SECONDS` (its unacked messages go back to the queues, its shards to the
standbys): coming back is the keeper's job, not the worker's. The keeper runs the one child
with the engine's own supervisor (restart with backoff; SIGTERM passed on, then SIGKILL after
the grace period) until it is told to stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from ops.supervisor import ProcessSupervisor


async def keep(args: list[str]) -> int:
    """Run `python ARGS` and restart it whenever it exits, until SIGTERM or SIGINT; the
    supervisor's exit code (0 when the child stopped cleanly)."""
    supervisor = ProcessSupervisor(1, args, os.environ)
    supervisor.role = args[-1] if args else "process"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await supervisor.start()
    await stop.wait()
    return await supervisor.stop()


def main() -> None:
    """The command line: everything after the program name is the child's Python args."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit("usage: python -m ops.cluster.keep PYTHON-ARGS...  (e.g. -m shards): run "
                 "them, restarted whenever they exit, until SIGTERM")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(keep(sys.argv[1:])))


if __name__ == "__main__":
    main()
