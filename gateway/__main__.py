"""`python -m gateway`: one of the gateway processes `ticketwar run` starts with RabbitMQ.

It binds PORT with SO_REUSEPORT beside its siblings (the parent has reserved the port, and
resolved the database and the JWT secret for all of them) and, once it serves, tells the
parent so (`announce_ready`), which then prints the URL once for all of them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import uvloop

from engine.entrypoint import READY_FD_ENV, announce_ready, process_main
from engine.settings import Settings
from gateway.serve import serve

#: prctl(2) option: the signal this process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def run(settings: Settings) -> int:
    """Serve until signalled; the exit code."""
    async def ready(port: int) -> None:
        announce_ready()

    if settings.amqp_url is None or settings.database_url is None:
        sys.exit("gateway: AMQP_URL and DATABASE_URL must be set for a gateway process "
                 "(with the in-process transport the gateway is one process: ticketwar run)")
    return uvloop.run(serve(settings, ready, reuse_port=True))


def _die_with_parent() -> None:
    """Be told (SIGTERM, an ordered stop) when the `ticketwar run` that started us dies,
    even by kill -9: a gateway left behind would go on taking connections on its port."""
    if READY_FD_ENV not in os.environ or not sys.platform.startswith("linux"):
        return  # not supervised, or no prctl
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl: nobody would signal us
        sys.exit("gateway: ticketwar run is gone")


def main() -> None:
    """`python -m gateway`: exit non-zero if the gateway failed or could not start."""
    _die_with_parent()
    process_main("gateway", run)


if __name__ == "__main__":
    main()
