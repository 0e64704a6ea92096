"""Namespaces, bridges and veth pairs with `ip`: create, cut, heal, remove.

Only names starting with topology.PREFIX are ever created or removed; the root namespace
gets nothing but the short-lived veth pairs on their way into their namespaces.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from ops.cluster.topology import HOSTS, NETWORKS, PREFIX, SWITCH, Host


def ip(*args: str, check: bool = True) -> str:
    """Run `ip ARGS`; its output (CalledProcessError with stderr when it fails)."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, ["ip", *args], done.stdout,
                                            done.stderr)
    return done.stdout


def bridge(network: str) -> str:
    """The bridge of `network`, in the switch namespace."""
    return f"{PREFIX}br-{network}"


def ours() -> list[str]:
    """The namespaces of ours that exist now."""
    names = [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]
    return [n for n in names if n.startswith(f"{PREFIX}-")]


def create() -> None:
    """The switch with its bridges, then every host with its ports on them."""
    ip("netns", "add", SWITCH)
    ip("-n", SWITCH, "link", "set", "lo", "up")
    for network in NETWORKS:
        ip("-n", SWITCH, "link", "add", bridge(network), "type", "bridge")
        ip("-n", SWITCH, "link", "set", bridge(network), "up")
    for h in HOSTS:
        ip("netns", "add", h.namespace)
        ip("-n", h.namespace, "link", "set", "lo", "up")
        for network in h.networks:
            _plug(h, network)


def _plug(h: Host, network: str) -> None:
    port, inside = h.port(network), f"{h.port(network)}h"
    ip("link", "add", port, "type", "veth", "peer", "name", inside)
    ip("link", "set", port, "netns", SWITCH)
    ip("link", "set", inside, "netns", h.namespace)
    ip("-n", h.namespace, "link", "set", inside, "name", network)
    ip("-n", h.namespace, "addr", "add", f"{h.address(network)}/24", "dev", network)
    ip("-n", h.namespace, "link", "set", network, "up")
    ip("-n", SWITCH, "link", "set", port, "master", bridge(network), "up")


def set_cut(h: Host, networks: tuple[str, ...], cut: bool) -> None:
    """Take the host's ports on `networks` down (cut) or up (heal)."""
    for network in networks:
        ip("-n", SWITCH, "link", "set", h.port(network), "down" if cut else "up")


def cut_from(h: Host) -> list[str]:
    """The networks the host is cut from now (its port down)."""
    cut = []
    for network in h.networks:
        out = ip("-n", SWITCH, "-o", "link", "show", h.port(network), check=False)
        if out and ",UP" not in out.split(">")[0] and "<UP" not in out.split(">")[0]:
            cut.append(network)
    return cut


def pids(namespace: str) -> list[int]:
    """Every process living in `namespace`."""
    return [int(p) for p in ip("netns", "pids", namespace, check=False).split()]


def kill_all(namespaces: list[str], grace_seconds: float = 10.0) -> None:
    """SIGTERM every process in the namespaces, SIGKILL what is left after the grace."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for ns in namespaces:
            for pid in pids(ns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
        deadline = time.monotonic() + grace_seconds
        while any(pids(ns) for ns in namespaces) and time.monotonic() < deadline:
            time.sleep(0.2)  # polling processes we signalled: there is no event for it


def remove() -> None:
    """Remove every namespace of ours (their veths and bridges go with them) and any veth
    a failed start left in the root namespace. Safe to call when nothing exists."""
    namespaces = ours()
    kill_all(namespaces)
    for ns in namespaces:
        ip("netns", "del", ns, check=False)
    for line in ip("-o", "link", "show").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(f"{PREFIX}-") or name.startswith(f"{PREFIX}br-"):
            ip("link", "del", name, check=False)
