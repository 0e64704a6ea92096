"""`up`, `down`, `status`, `cut`, `heal`: the cluster's life, over `netns` and `services`."""

from __future__ import annotations

import contextlib
import logging
import secrets
import subprocess
from pathlib import Path

from ops.cluster import netns, services, topology
from ops.cluster.services import ClusterError
from ops.cluster.state import State

log = logging.getLogger(__name__)


def up(root: Path, *, rabbit_nodes: int = 3) -> State:
    """Build the networks and start every host's processes, in dependency order:
    PostgreSQL and the RabbitMQ nodes, their cluster, the migrations, the workers (they
    declare the quorum queues, so after the cluster formed: a queue's replicas are the
    nodes there at its declaration), then the gateways. Anything left from an earlier run
    is removed first; on a failure everything is removed again and the error raised."""
    down(root)
    state = State(root, secrets.token_urlsafe(48), secrets.token_hex(20),
                  rabbit_nodes=rabbit_nodes)
    state.save()
    nodes = topology.of_role("rabbitmq")[:rabbit_nodes]
    try:
        log.info("creating %d hosts on the broker and database networks", len(topology.HOSTS))
        netns.create()
        for mq in nodes:
            services.start_rabbit(state, mq)
        log.info("starting PostgreSQL and %d RabbitMQ node(s)", len(nodes))
        services.start_postgres(state)
        services.cluster_rabbits(state, nodes)
        services.migrate(state, nodes)
        log.info("starting %d shard workers", topology.WORKERS)
        services.start_workers(state, nodes)
        services.wait_for(lambda: _shards_served(state, nodes[0]),
                          "every shard queue to have a consumer from every worker", 120)
        log.info("starting the gateways")
        services.start_gateways(state, nodes)
        for g in topology.of_role("gateway"):
            services.wait_for(lambda g=g: services.gateway_healthy(g),
                              f"gateway {g.name} to answer /api/health", 120)
    except BaseException:
        log.error("cluster up failed; removing what was started (logs stay in %s)", root)
        down(root)
        raise
    return state


def _shards_served(state: State, mq: topology.Host) -> bool:
    queues = [q for q in services.queue_table(state, mq) if ".shard." in q[0]]
    return len(queues) == topology.SHARDS and all(
        q[2] == str(topology.WORKERS) for q in queues)


def down(root: Path) -> None:
    """Stop every process and remove every namespace, bridge and veth of ours; idempotent,
    and thorough after a failed `up` (it finds what exists, not only what was recorded)."""
    state = State.load(root)
    if state is not None:
        # PostgreSQL first and gently: a fast shutdown leaves a data directory that
        # starts again; the rest is the namespace sweep below.
        with contextlib.suppress(subprocess.SubprocessError, OSError, ClusterError):
            services.stop_postgres(state)
    netns.remove()
    if state is not None:
        state.processes = {}
        state.save()


def cut(name: str, network: str | None) -> list[str]:
    """Cut host `name` from `network` (every network it is on when None); what was cut."""
    h = topology.host(name)
    networks = h.networks if network is None else (network,)
    if network is not None and network not in h.networks:
        raise ClusterError(f"{name} is not on the {network} network (only {h.networks})")
    netns.set_cut(h, networks, cut=True)
    return list(networks)


def heal(name: str) -> None:
    """Plug host `name` back into every network it is on."""
    h = topology.host(name)
    netns.set_cut(h, h.networks, cut=False)


def status(root: Path) -> str:
    """Each host, its addresses, its processes (alive or not) and what it is cut from;
    then the RabbitMQ cluster's shard queues with their replicas and consumers."""
    state = State.load(root)
    existing = set(netns.ours())
    if topology.SWITCH not in existing:
        return "cluster is down"
    lines = [f"{'host':<6} {'role':<9} {'addresses':<26} {'cut from':<16} processes"]
    for h in topology.HOSTS:
        if h.namespace not in existing:
            lines.append(f"{h.name:<6} {h.role:<9} (no namespace)")
            continue
        alive = set(netns.pids(h.namespace))
        procs = [f"{what} {pid}{'' if pid in alive else ' (dead)'}"
                 for what, pid in (state.processes.get(h.name, []) if state else [])]
        addresses = ",".join(h.address(n) for n in h.networks)
        cut_from = ",".join(netns.cut_from(h)) or "-"
        lines.append(f"{h.name:<6} {h.role:<9} {addresses:<26} {cut_from:<16} "
                     f"{'; '.join(procs) or '-'}")
    if state is not None:
        nodes = topology.of_role("rabbitmq")[:state.rabbit_nodes]
        try:
            queues = services.queue_table(state, nodes[0])
        except (ClusterError, subprocess.SubprocessError) as exc:
            lines.append(f"queues: not readable from {nodes[0].name} ({exc})")
        else:
            # The quorum queues (shards, dead letters); the classic ones are the
            # gateways' reply and notification queues, one per gateway process.
            quorum = sorted(q for q in queues if len(q) >= 4 and q[1] == "quorum")
            lines.append("")
            lines += [f"queue {q[0]} ({q[1]}): {q[2]} consumers, replicas {q[3]}"
                      for q in quorum]
            lines.append(f"and {len(queues) - len(quorum)} classic queues")
    return "\n".join(lines)
