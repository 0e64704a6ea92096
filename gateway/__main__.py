"""`python -m gateway`: one of the gateway processes `ticketwar run` starts with RabbitMQ.

It binds PORT with SO_REUSEPORT beside its siblings (the parent has reserved the port, and
resolved the database and the JWT secret for all of them) and, once it serves, tells the
parent so (`announce_ready`), which then prints the URL once for all of them.
"""

from __future__ import annotations

import sys

import uvloop

from engine.entrypoint import announce_ready, process_main
from engine.settings import Settings
from gateway.serve import serve


def run(settings: Settings) -> int:
    """Serve until signalled; the exit code."""
    async def ready(port: int) -> None:
        announce_ready()

    if settings.amqp_url is None or settings.database_url is None:
        sys.exit("gateway: AMQP_URL and DATABASE_URL must be set for a gateway process "
                 "(with the in-process transport the gateway is one process: ticketwar run)")
    return uvloop.run(serve(settings, ready, reuse_port=True))


def main() -> None:
    """`python -m gateway`: exit non-zero if the gateway failed or could not start."""
    process_main("gateway", run)


if __name__ == "__main__":
    main()
