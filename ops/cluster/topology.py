"""The cluster's shape: which hosts exist, what each runs, and its address on each network.

Two networks, each a bridge: the broker network (RabbitMQ, and everything that talks to it;
clients reach the gateways here too) and the database network (PostgreSQL and its clients).
A host on both can lose one and keep the other, which is the case fencing exists for: a
shard worker cut from the brokers that still reaches PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every name this harness gives a namespace, a bridge or a veth starts with this, so a
#: clean-up can find what a failed start left behind and touch nothing else.
PREFIX = "tw"
NETWORKS = {"broker": "10.231.1", "database": "10.231.2"}
#: The namespace holding the two bridges (the "switches"); a cut takes a host's port on
#: them down, so the host keeps its address and sees no carrier, as with a pulled cable.
SWITCH = f"{PREFIX}-switch"
SHARDS = 8
WORKERS = 3
GATEWAY_PORT = 8080
AMQP_PORT = 5672
PG_PORT = 5432
#: Short heartbeats so a cut is noticed in seconds (RabbitMQ closes a connection after two
#: missed ones), not the minute of the default.
AMQP_HEARTBEAT_SECONDS = 5
#: A worker without RabbitMQ for this long exits and its keeper starts it again (60 s by
#: default): short, so the cluster test of a long cut lasts well under a minute.
WORKER_RECONNECT_DEADLINE_SECONDS = 15


@dataclass(frozen=True)
class Host:
    """One machine of the cluster: a namespace with an address on some networks."""

    name: str
    role: str  # postgres | rabbitmq | gateway | worker | load
    octet: int
    networks: tuple[str, ...]
    index: int = 0  # the n-th of its role, from 0

    @property
    def namespace(self) -> str:
        """The network namespace the host is."""
        return f"{PREFIX}-{self.name}"

    def address(self, network: str) -> str:
        """Its address on `network`."""
        return f"{NETWORKS[network]}.{self.octet}"

    def port(self, network: str) -> str:
        """The name of its port on `network`'s bridge (in the switch namespace; <= 15
        characters, as the kernel wants)."""
        return f"{PREFIX}-{self.name}-{network[0]}"

    @property
    def main_address(self) -> str:
        """Where others reach it: the broker network if it is on it, else the database's."""
        return self.address(self.networks[0])


BOTH = ("broker", "database")
HOSTS: tuple[Host, ...] = (
    Host("pg", "postgres", 10, ("database",)),
    *(Host(f"mq{i + 1}", "rabbitmq", 11 + i, ("broker",), i) for i in range(3)),
    *(Host(f"w{i + 1}", "worker", 31 + i, BOTH, i) for i in range(WORKERS)),
    *(Host(f"gw{i + 1}", "gateway", 21 + i, BOTH, i) for i in range(2)),
    Host("load", "load", 90, BOTH),
)


def host(name: str) -> Host:
    """The host called `name` (KeyError naming the known ones otherwise)."""
    for h in HOSTS:
        if h.name == name:
            return h
    raise KeyError(f"no host {name!r}; hosts: {', '.join(h.name for h in HOSTS)}")


def of_role(role: str) -> list[Host]:
    """The hosts of one role, in order."""
    return [h for h in HOSTS if h.role == role]


def rabbit_node(mq: Host) -> str:
    """A RabbitMQ node's long name, by address."""
    return f"rabbit@{mq.address('broker')}"


def amqp_url(mq: Host) -> str:
    """The URL clients of node `mq` use."""
    return (f"amqp://guest:guest@{mq.address('broker')}:{AMQP_PORT}/"
            f"?heartbeat={AMQP_HEARTBEAT_SECONDS}")


def database_url() -> str:
    """The DSN of the cluster's PostgreSQL."""
    return f"postgresql://postgres@{host('pg').address('database')}:{PG_PORT}/ticketwar"


def gateway_urls() -> list[str]:
    """The gateways' base URLs, as the load host reaches them."""
    return [f"http://{g.address('broker')}:{GATEWAY_PORT}" for g in of_role("gateway")]
