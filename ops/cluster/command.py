"""`ticketwar cluster`: the cluster harness on the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.settings import Settings
from ops.cluster import harness, topology
from ops.cluster.services import ClusterError
from ops.cluster.state import DEFAULT_DIR

HELP = f"""\
hosts (network namespaces {topology.PREFIX}-NAME; broker network {topology.NETWORKS['broker']}.0/24,
database network {topology.NETWORKS['database']}.0/24):
  pg           PostgreSQL (database network only)
  mq1 mq2 mq3  RabbitMQ nodes, clustered (broker network only)
  w1 w2 w3     shard workers (python -m shards), each active for its shards, standby for others'
  gw1 gw2      gateways (ticketwar run), on port {topology.GATEWAY_PORT} of their broker address
  load         where surges are sent from
Needs root (ip netns). Logs and data under the state directory, one folder per host.

examples:
  ticketwar cluster up
  ticketwar cluster cut w1 --from broker   # w1 still reaches PostgreSQL
  ticketwar cluster heal w1
  ticketwar cluster down
"""


def add_parser(sub: Any) -> None:
    """Register `cluster` on the CLI's subparsers."""
    p = sub.add_parser("cluster", help="a multi-host cluster in network namespaces, to break",
                       description="Run the engine as a cluster of hosts (Linux network "
                       "namespaces on a broker and a database network) on this machine, and "
                       "cut hosts off mid-surge.", epilog=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", type=Path, default=DEFAULT_DIR,
                   help=f"data, logs and state.json (default {DEFAULT_DIR})")
    actions = p.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    start = actions.add_parser("up", help="create the hosts and start everything")
    start.add_argument("--rabbit-nodes", type=int, choices=(1, 3), default=3,
                       help="RabbitMQ nodes (default 3, clustered)")
    actions.add_parser("down", help="stop every process, remove every namespace (idempotent)")
    actions.add_parser("status", help="hosts, addresses, processes, cuts, queue replicas")
    cut = actions.add_parser("cut", help="take a host's network port(s) down")
    cut.add_argument("host")
    cut.add_argument("--from", dest="network", choices=tuple(topology.NETWORKS),
                     help="only this network (default: every network the host is on)")
    heal = actions.add_parser("heal", help="bring a host's network ports back up")
    heal.add_argument("host")
    p.set_defaults(func=cmd_cluster)


def cmd_cluster(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of `ticketwar cluster`."""
    root = args.state_dir.resolve()
    try:
        if args.cluster_command == "up":
            harness.up(root, rabbit_nodes=args.rabbit_nodes)
            print(harness.status(root))
            print("gateways: " + " ".join(topology.gateway_urls()))
        elif args.cluster_command == "down":
            harness.down(root)
            print("cluster is down")
        elif args.cluster_command == "status":
            print(harness.status(root))
        elif args.cluster_command == "cut":
            networks = harness.cut(args.host, args.network)
            print(f"{args.host} cut from {', '.join(networks)}")
        else:
            harness.heal(args.host)
            print(f"{args.host} healed")
    except (ClusterError, KeyError) as exc:
        print(f"ticketwar cluster: {exc.args[0]}", file=sys.stderr)
        return 1
    return 0


__all__ = ["add_parser", "cmd_cluster"]
