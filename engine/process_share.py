"""How the gateway processes of one `ticketwar run` share the host's limits.

With RabbitMQ, `ticketwar run` serves through GATEWAY_PROCESSES processes on one port, and
each keeps its counters in its own memory. Rather than a shared store on every request's
path, each process enforces its share of a per-host budget — a rate limit's allowance,
MAX_REQUESTS_IN_FLIGHT — so the processes together allow what one did (docs/design.md,
"Limits with several gateways"). The in-process transport runs one process: it keeps the
whole budget.
"""

from __future__ import annotations

from engine.settings import Settings


def sharing_processes(settings: Settings) -> int:
    """How many gateway processes share this host's budgets: GATEWAY_PROCESSES with
    RabbitMQ (`ticketwar run` starts that many), else 1."""
    return settings.gateway_processes if settings.amqp_url is not None else 1


def share(total: int, processes: int) -> int:
    """One process's share of `total`: rounded up, so a budget smaller than the number of
    processes still lets each admit one (the host then allows at most processes - 1 more
    than `total`)."""
    return max(1, -(-total // processes))
