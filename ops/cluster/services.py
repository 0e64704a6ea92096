"""What runs on each host, started inside its namespace from Debian's packages: PostgreSQL
(initdb/pg_ctl), RabbitMQ nodes clustered by `rabbitmqctl join_cluster`, and the engine's
own processes (`python -m shards`, `ticketwar run` for the gateways)."""

from __future__ import annotations

import glob
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ops.cluster import topology
from ops.cluster.state import State
from ops.cluster.topology import Host

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


class ClusterError(RuntimeError):
    """A step of `up` failed; the message says which, and where its log is."""


def in_namespace(h: Host, cmd: Sequence[str]) -> list[str]:
    """`cmd` run inside the host's namespace."""
    return ["ip", "netns", "exec", h.namespace, *cmd]


def run_in(h: Host, cmd: Sequence[str], env: Mapping[str, str] | None = None,
           timeout: float = 120) -> str:
    """Run `cmd` to its end on host `h`; its output, or ClusterError with it."""
    done = subprocess.run(in_namespace(h, cmd), env=dict(env or os.environ), timeout=timeout,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ClusterError(f"on {h.name}: {' '.join(cmd)} exited {done.returncode}:\n"
                           f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def spawn(state: State, h: Host, what: str, cmd: Sequence[str], env: Mapping[str, str]) -> int:
    """Start a long-running `cmd` on host `h`, logging to <host>/<what>.log; its pid."""
    log = state.host_dir(h.name) / f"{what}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(in_namespace(h, cmd), env=dict(env), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    state.add(h.name, what, proc.pid)
    return proc.pid


def wait_for(check: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll `check` (a process in another namespace gives no event to await) until true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


# --- PostgreSQL -------------------------------------------------------------------------

def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise ClusterError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return found[-1]


def start_postgres(state: State) -> None:
    """A fresh cluster in <state>/pg/data, listening on the database network only."""
    pg = topology.host("pg")
    data = state.host_dir("pg") / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    shutil.chown(data, "postgres", "postgres")
    os.chmod(data, 0o700)
    as_pg = ["runuser", "-u", "postgres", "--"]
    run_in(pg, [*as_pg, _pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--no-sync"])
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {topology.NETWORKS['database']}.0/24 trust\n")
    # fsync off: the harness breaks the network, never the machine's power, and the
    # disk is shared with other work.
    options = (f"-c listen_addresses={pg.address('database')} -c port={topology.PG_PORT} "
               f"-c unix_socket_directories={data} -c max_connections=300 -c fsync=off "
               "-c shared_buffers=64MB")
    log = state.host_dir("pg") / "postgres.log"
    log.touch()
    shutil.chown(log, "postgres", "postgres")  # pg_ctl opens it as postgres
    run_in(pg, [*as_pg, _pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                "-o", options, "start"])
    pid = int((data / "postmaster.pid").read_text().split()[0])
    state.add("pg", "postgres", pid)
    run_in(pg, [*as_pg, _pg_bin("createdb"), "-h", str(data), "-p", str(topology.PG_PORT),
                "ticketwar"])


def stop_postgres(state: State) -> None:
    """pg_ctl stop -m fast, if a cluster is there (a failed start may have left none)."""
    data = state.root / "pg" / "data"
    if (data / "postmaster.pid").exists():  # pg_ctl signals it by pid, from anywhere
        subprocess.run(["runuser", "-u", "postgres", "--", _pg_bin("pg_ctl"), "-D", str(data),
                        "-m", "fast", "-w", "-t", "30", "stop"], capture_output=True,
                       check=False, timeout=60)


# --- RabbitMQ ---------------------------------------------------------------------------

def rabbit_env(state: State, mq: Host) -> dict[str, str]:
    """A node's environment: its long name, its own directories and files, the cookie in
    its HOME (for rabbitmqctl too). The machine's /etc/rabbitmq is never read: its env file
    pins the local broker's node name and distribution to 127.0.0.1."""
    home = state.host_dir(mq.name)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RABBITMQ_", "ERL_"))}
    env.update({
        "HOME": str(home),
        "RABBITMQ_NODENAME": topology.rabbit_node(mq),
        "RABBITMQ_USE_LONGNAME": "true",
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_PID_FILE": str(home / "rabbit.pid"),
        # No busy-waiting schedulers: three nodes share two cores with everything else.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
    })
    return env


def start_rabbit(state: State, mq: Host) -> None:
    """Write the node's files and start it (not waiting for it)."""
    home = state.host_dir(mq.name)
    shutil.rmtree(home / "mnesia", ignore_errors=True)
    cookie = home / ".erlang.cookie"
    if cookie.exists():
        os.chmod(cookie, 0o600)
    cookie.write_text(state.cookie)
    os.chmod(cookie, 0o400)
    (home / "rabbitmq-env.conf").write_text("")
    (home / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange].\n")
    # guest may log in from other hosts (by default only over loopback); a partitioned
    # minority pauses rather than diverging. A peer is declared down after 10 s of silence
    # (net_ticktime; the default 60 s is up to 75): until then every queue declaration of
    # the cluster waits on the silent node, so a client that lost its node reconnects to
    # another at once but cannot declare its reply queue there for that long.
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = {topology.AMQP_PORT}\n"
        "loopback_users = none\n"
        "disk_free_limit.absolute = 50MB\n"
        "cluster_partition_handling = pause_minority\n"
        "net_ticktime = 10\n")
    # Under its broker watch, which restarts a node stuck down (ops/cluster/brokerwatch.py).
    spawn(state, mq, "rabbitmq", [
        sys.executable, "-m", "ops.cluster.brokerwatch", topology.rabbit_node(mq),
        "--port", str(topology.AMQP_PORT), "--", str(RABBIT_BIN / "rabbitmq-server")],
        rabbit_env(state, mq))


def rabbitmqctl(state: State, mq: Host, *args: str, timeout: float = 120) -> str:
    """`rabbitmqctl -n <node> ARGS` from the node's own host."""
    return run_in(mq, [str(RABBIT_BIN / "rabbitmqctl"), "-n", topology.rabbit_node(mq),
                       *args], rabbit_env(state, mq), timeout=timeout)


def _registered(state: State, mq: Host) -> bool:
    """Whether the node's Erlang VM is up (answers a ping)."""
    try:
        rabbitmqctl(state, mq, "ping", timeout=30)
    except (ClusterError, subprocess.TimeoutExpired):
        return False
    return True


def cluster_rabbits(state: State, nodes: list[Host]) -> None:
    """Wait for every node, then join each after the first to it."""
    for mq in nodes:
        # await_startup waits for a node that runs, but fails at once while its VM has not
        # even registered with epmd (a loaded machine: seen 2 s after the start).
        wait_for(lambda mq=mq: _registered(state, mq), f"{mq.name}'s Erlang VM", 120)
        rabbitmqctl(state, mq, "await_startup", "--timeout", "120", timeout=150)
    first = topology.rabbit_node(nodes[0])
    for mq in nodes[1:]:
        rabbitmqctl(state, mq, "stop_app")
        rabbitmqctl(state, mq, "join_cluster", first)
        rabbitmqctl(state, mq, "start_app")
    running = rabbitmqctl(state, nodes[0], "eval",
                          "length(rabbit_nodes:all_running()).").strip()
    if running != str(len(nodes)):
        raise ClusterError(f"RabbitMQ cluster has {running} running nodes, not {len(nodes)}")


def queue_table(state: State, mq: Host) -> list[list[str]]:
    """Each queue's name, type, consumers and members (the nodes holding a replica)."""
    out = rabbitmqctl(state, mq, "list_queues", "--quiet", "--no-table-headers",
                      "name", "type", "consumers", "members", timeout=30)
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def connections(state: State, via: Host) -> list[tuple[str, str]]:
    """(node address, client address) of every client connection in the cluster, as node
    `via` sees it (`list_connections` spans the nodes it reaches)."""
    out = rabbitmqctl(state, via, "list_connections", "--quiet", "--no-table-headers",
                      "host", "peer_host", timeout=30)
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return [(r[0].strip(), r[1].strip()) for r in rows if len(r) == 2]


def active_consumers(state: State, via: Host) -> dict[str, str]:
    """Queue name -> the client address of its active consumer (single active consumer
    queues: the shard queues), as node `via` sees the cluster."""
    consumers = rabbitmqctl(state, via, "list_consumers", "--quiet", "--no-table-headers",
                            "queue_name", "channel_pid", "active", timeout=30)
    channels = rabbitmqctl(state, via, "list_channels", "--quiet", "--no-table-headers",
                           "pid", "name", timeout=30)
    # A channel's name is "<client ip>:<port> -> <node ip>:<port> (<number>)".
    peer = {r[0]: r[1].split(":")[0] for r in (line.split("\t") for line in
                                               channels.splitlines()) if len(r) == 2}
    return {r[0]: peer.get(r[1], "?") for r in (line.split("\t") for line in
                                               consumers.splitlines())
            if len(r) == 3 and r[2].strip() == "true"}


# --- the engine -------------------------------------------------------------------------

def engine_env(state: State, h: Host, nodes: list[Host], **extra: str) -> dict[str, str]:
    """Settings of an engine process on host `h`: its AMQP_URL names every broker node,
    its own (`broker_for`) first — it connects there, and to the next when it loses it."""
    first = nodes.index(broker_for(h, nodes))
    ordered = nodes[first:] + nodes[:first]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
    env.update({
        "DATABASE_URL": topology.database_url(),
        "AMQP_URL": ",".join(topology.amqp_url(n) for n in ordered),
        "JWT_SECRET": state.jwt_secret,
        "PAYMENT_PROVIDER": "fake",
        "SHARDS": str(topology.SHARDS),
        "SHARD_WORKERS": str(topology.WORKERS),
        "DB_POOL_MAX": "10",
        "DATA_DIR": str(state.host_dir(h.name)),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **extra,
    })
    return env


def broker_for(h: Host, nodes: list[Host]) -> Host:
    """The broker node host `h` connects to: spread over the nodes by the host's index."""
    return nodes[h.index % len(nodes)]


def migrate(state: State, nodes: list[Host]) -> None:
    """Apply the migrations once, from the load host, before any worker starts."""
    load = topology.host("load")
    run_in(load, [sys.executable, "-m", "ops.cli", "migrate"],
           engine_env(state, load, nodes))


def start_workers(state: State, nodes: list[Host]) -> None:
    """`python -m shards` on every worker host, each the active consumer of its shards, kept
    running by the host's keeper (ops/cluster/keep.py): a worker that gives up on RabbitMQ
    after RECONNECT_DEADLINE_SECONDS exits, and is started again."""
    for w in topology.of_role("worker"):
        spawn(state, w, "shards", [sys.executable, "-m", "ops.cluster.keep", "-m", "shards"],
              engine_env(state, w, nodes, SHARD_WORKER_INDEX=str(w.index),
                         RECONNECT_DEADLINE_SECONDS=str(
                             topology.WORKER_RECONNECT_DEADLINE_SECONDS)))


def start_gateways(state: State, nodes: list[Host]) -> None:
    """`ticketwar run` with one gateway process and no workers on every gateway host."""
    for g in topology.of_role("gateway"):
        spawn(state, g, "gateway", [sys.executable, "-m", "ops.cli", "run"],
              engine_env(state, g, nodes, HOST=g.address("broker"),
                         PORT=str(topology.GATEWAY_PORT), GATEWAY_PROCESSES="1",
                         SHARD_WORKERS="0", MAX_REQUESTS_IN_FLIGHT="1000"))


def _gateway_get(g: Host, path: str) -> tuple[int, str] | None:
    """GET `path` of gateway `g`, asked from the load host (the network its clients use):
    the status and body, or None when it does not answer."""
    url = f"http://{g.address('broker')}:{topology.GATEWAY_PORT}{path}"
    probe = ("import sys, urllib.request\n"
             "try:\n"
             f"    r = urllib.request.urlopen({url!r}, timeout=3)\n"
             "except Exception:\n"
             "    sys.exit(1)\n"
             "print(r.status)\n"
             "print(r.read().decode())\n")
    done = subprocess.run(in_namespace(topology.host("load"), [sys.executable, "-c", probe]),
                          capture_output=True, check=False, timeout=30, text=True)
    if done.returncode != 0:
        return None
    status, _, body = done.stdout.partition("\n")
    return int(status), body


def gateway_metric(g: Host, sample: str) -> float:
    """The sum of gateway `g`'s Prometheus samples whose line starts with `sample` (a name
    with the start of its labels, e.g. `ticketwar_amqp_messages_total{direction="delivered"`);
    NaN when the gateway does not answer."""
    got = _gateway_get(g, "/metrics")
    if got is None:
        return math.nan
    return sum(float(line.rsplit(" ", 1)[1]) for line in got[1].splitlines()
               if line.startswith(sample))


def gateway_healthy(g: Host) -> bool:
    """Whether the gateway answers /api/health 200, asked from the load host."""
    got = _gateway_get(g, "/api/health")
    return got is not None and got[0] == 200
