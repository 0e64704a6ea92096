"""The capacity model: measured costs per unit of work, and the hosts a sale needs.

Pure arithmetic, no I/O. A `Shape` is one kind of sale as measured on this machine: how
much each request costs the gateway, and how many commands, rows and broker messages it
makes, each with its measured CPU cost. `plan` turns a rate of requests into cores and
hosts of each kind, and says whether one PostgreSQL primary can take the writes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

#: The kinds of host, in the order a plan lists them.
KINDS = ("gateway", "worker", "postgresql", "broker")


@dataclass(frozen=True)
class Shape:
    """One sale's mix, per request, with the CPU cost of each unit of work (all measured)."""

    name: str
    #: CPU ms per HTTP request at the gateway (parsing, token, limits, stock view, answer).
    gateway_ms_per_request: float
    #: Booking commands a request sends to a shard worker (rejections from the gateway's
    #: stock view send none).
    commands_per_request: float
    #: CPU ms per command at the shard worker (consume, decide, batch, outcome, ack).
    worker_ms_per_command: float
    #: Rows written (inserted, updated, deleted) per request.
    rows_per_request: float
    #: CPU ms per row written, at PostgreSQL (the backends of the sale's database).
    postgresql_ms_per_row: float
    #: Broker messages per request (commands and outcomes), published and delivered
    #: counted apart. Stock updates are not per request: see `stock_per_worker_s`.
    messages_per_request: float
    #: CPU ms per message at a single broker node.
    broker_ms_per_message: float
    #: WAL bytes per row written.
    wal_bytes_per_row: float
    #: Of `messages_per_request`, those on quorum queues (commands, published and
    #: delivered): the others (outcomes, to a gateway's own queue) live on one node.
    quorum_messages_per_request: float = 0.0
    #: Stock updates one shard-worker process publishes per second while its events sell
    #: (at most 1000 / STOCK_INTERVAL_MS): each is delivered to every gateway process.
    stock_per_worker_s: float = 0.0


@dataclass(frozen=True)
class Hosts:
    """What a host is and how full it may run: the assumptions of a plan."""

    cores: int = 16
    #: Planned busy share of a host's cores: headroom for bursts, a lost peer's load,
    #: and the measurements' own error.
    utilisation: float = 0.6
    #: Members of each quorum queue. Every member writes every message to its log, so a
    #: command's message costs the cluster about this many times what it costs the one
    #: node measured (followers do less than the leader: this errs toward more brokers).
    broker_replicas: int = 3
    #: A RabbitMQ cluster with quorum queues needs an odd number of nodes, three at least.
    min_brokers: int = 3
    #: Sustained WAL a primary can write and ship to its standby (MB/s). Not measured
    #: here (one shared virtual disk says nothing of a database server's); an assumption.
    wal_mb_per_s: float = 300.0
    #: Whether each gateway host takes the stock updates once for all its processes (a
    #: relay not built yet) instead of each process binding its own queue (as built).
    stock_per_host: bool = False

    def usable(self) -> float:
        """Cores of one host a plan may fill."""
        return self.cores * self.utilisation


@dataclass(frozen=True)
class Need:
    """Cores and hosts of one kind for one rate."""

    cores: float
    hosts: int


@dataclass(frozen=True)
class Plan:
    """Hosts of every kind for `rps` requests per second of one shape."""

    shape: str
    rps: float
    needs: dict[str, Need]
    #: Rows per second the sale writes, and what one primary can take (CPU and WAL bound).
    rows_per_s: float
    primary_rows_per_s: float
    #: PostgreSQL clusters the writes need (1: the single primary suffices).
    postgresql_clusters: int
    #: Stock messages per second at the brokers (published and delivered).
    stock_messages_per_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON object."""
        return {"shape": self.shape, "rps": self.rps,
                "needs": {k: asdict(v) for k, v in self.needs.items()},
                "rows_per_s": round(self.rows_per_s), "primary_rows_per_s":
                round(self.primary_rows_per_s) if math.isfinite(self.primary_rows_per_s)
                else None, "postgresql_clusters": self.postgresql_clusters,
                "stock_messages_per_s": round(self.stock_messages_per_s)}


def primary_rows_per_s(shape: Shape, hosts: Hosts) -> float:
    """Rows per second one PostgreSQL primary on one host takes: the lesser of its cores'
    (at the planned utilisation) and its WAL's."""
    # A cost measured as 0 (too small to see) bounds nothing.
    by_cpu = hosts.usable() * 1000 / shape.postgresql_ms_per_row \
        if shape.postgresql_ms_per_row > 0 else math.inf
    by_wal = hosts.wal_mb_per_s * 1e6 / shape.wal_bytes_per_row \
        if shape.wal_bytes_per_row > 0 else math.inf
    return min(by_cpu, by_wal)


def stock_messages_per_s(shape: Shape, worker_cores: float, gateway_cores: float,
                         hosts: Hosts) -> float:
    """Stock messages per second at the brokers: each worker process (one a core)
    publishes its updates once, and each is delivered to every subscriber — every
    gateway process, or every gateway host with `stock_per_host`. Not replicated: a
    subscriber's queue is its own, on one node."""
    workers = max(1.0, math.ceil(worker_cores))
    gateways = max(1.0, math.ceil(gateway_cores))
    subscribers = math.ceil(gateways / hosts.usable()) if hosts.stock_per_host else gateways
    return workers * shape.stock_per_worker_s * (1 + subscribers)


def plan(shape: Shape, rps: float, hosts: Hosts) -> Plan:
    """Cores and hosts of each kind for `rps` requests per second of `shape`."""
    cores = {
        "gateway": rps * shape.gateway_ms_per_request / 1000,
        "worker": rps * shape.commands_per_request * shape.worker_ms_per_command / 1000,
        "postgresql": rps * shape.rows_per_request * shape.postgresql_ms_per_row / 1000,
    }
    stock = stock_messages_per_s(shape, cores["worker"], cores["gateway"], hosts)
    copies = shape.messages_per_request \
        + shape.quorum_messages_per_request * (hosts.broker_replicas - 1)
    cores["broker"] = (rps * copies + stock) * shape.broker_ms_per_message / 1000
    rows = rps * shape.rows_per_request
    primary = primary_rows_per_s(shape, hosts)
    clusters = max(1, math.ceil(rows / primary)) if math.isfinite(primary) else 1
    needs = {}
    for kind in KINDS:
        count = max(1, math.ceil(cores[kind] / hosts.usable()))
        if kind == "broker":
            count = max(hosts.min_brokers, count + (count + 1) % 2)  # odd: a majority
        if kind == "postgresql":
            count = clusters  # one primary each (its standby not counted)
        needs[kind] = Need(round(cores[kind], 1), count)
    return Plan(shape.name, rps, needs, rows, primary, clusters, stock)
