"""Where the CPU went during a surge: the load generator against the server it loads.

A benchmark on one machine measures the client too; so it says how much. Read from Linux
/proc (utime + stime of each process), over the load phase only (not the set-up):

- `generator`: the surge's own processes, each measuring itself (`time.process_time`);
- `server`: the gateway process `ticketwar run` and its descendants (shard workers, other
  gateway processes);
- `services`: PostgreSQL and RabbitMQ processes on this machine (on a shared machine they
  include other users' work, so they are reported apart).

Each is also split by component — `gateway` (the `ticketwar run` tree but its shard
workers), `workers` (`python -m shards`), `postgresql`, `rabbitmq` — so a row says where a
strategy spends what it costs per request, not only how much. Given the run's database,
`postgresql_db` is the part of `postgresql` spent by the backends serving that database
(told apart by their process titles): on a shared machine, the one PostgreSQL figure that
other people's work does not inflate.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
#: Command names (/proc/<pid>/comm) of the backing services, and the component of each.
SERVICE_COMPONENTS = {"postgres": "postgresql", "beam.smp": "rabbitmq",
                      "erl_child_setup": "rabbitmq", "epmd": "rabbitmq"}
SERVICE_NAMES = frozenset(SERVICE_COMPONENTS)
#: The parts of a row's CPU, in the order a report shows them.
COMPONENTS = ("gateway", "workers", "postgresql", "rabbitmq")
#: The part of `postgresql` spent for the run's own database (see `database_of`).
OWN_DATABASE = "postgresql_db"
#: Titles of PostgreSQL processes that serve one database without being a client backend.
_DATABASE_WORKERS = ("autovacuum worker", "logical replication worker")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    return raw[raw.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far; 0 if it is gone."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # After the name: state(3) ppid(4) ... utime(14) stime(15), 1-based in proc(5).
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _all() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if fields is not None:
            out.append((int(entry.name), int(fields[1]), comm))
    return out


def tree(roots: Iterable[int]) -> set[int]:
    """The processes and all their descendants, alive now."""
    table = _all()
    found = set(roots)
    grew = True
    while grew:
        children = {pid for pid, ppid, _ in table if ppid in found} - found
        found |= children
        grew = bool(children)
    return found


def services() -> set[int]:
    """Processes of PostgreSQL and RabbitMQ on this machine."""
    return {pid for pid, _, comm in _all() if comm in SERVICE_NAMES}


def component(pid: int, *, service: bool) -> str:
    """Which part of the stack a process is (see `COMPONENTS`)."""
    try:
        if service:
            return SERVICE_COMPONENTS.get(Path(f"/proc/{pid}/comm").read_text().strip(),
                                          "rabbitmq")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "rabbitmq" if service else "gateway"
    return "workers" if b"shards" in argv and b"-m" in argv else "gateway"


def database_of(pid: int) -> str | None:
    """The database a PostgreSQL process works for, from its process title, or None for the
    server's own processes (checkpointer, WAL writer, ...) and for any other process.

    A backend's title is `postgres: [cluster: ]user database host(port) activity`, an
    autovacuum worker's `postgres: [cluster: ]autovacuum worker database`."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace").strip()
    except OSError:
        return None
    if not title.startswith("postgres: "):
        return None
    rest = title.removeprefix("postgres: ")
    words = rest.split()
    if words and words[0].endswith(":"):  # `cluster_name` set (Debian's "15/main:")
        rest = rest.split(":", 1)[1].strip()
        words = rest.split()
    for worker in _DATABASE_WORKERS:
        if rest.startswith(worker + " "):
            return rest.removeprefix(worker + " ").split()[0]
    # user database host(port) — the host is "[local]" on a Unix socket.
    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
        return words[1]
    return None


@dataclass(frozen=True)
class CpuShare:
    """CPU seconds spent during the load phase, by who spent them. `server_s` is None when
    the server's processes are not known (a gateway given by URL, not started here)."""

    generator_s: float
    server_s: float | None
    services_s: float
    requests: int
    generator_processes: int = 1
    #: CPU seconds by component (`COMPONENTS`); empty when not measured.
    components: dict[str, float] = field(default_factory=dict)

    def per_request_ms(self, seconds: float | None) -> float | None:
        """Milliseconds of CPU per request (None for an unknown figure)."""
        if seconds is None:
            return None
        return seconds / self.requests * 1000 if self.requests else 0.0

    @property
    def generator_share(self) -> float | None:
        """The generator's part of all CPU spent (0..1)."""
        if self.server_s is None:
            return None
        total = self.generator_s + self.server_s + self.services_s
        return self.generator_s / total if total else 0.0

    @property
    def generator_cheaper(self) -> bool | None:
        """Whether the generator spent less CPU per request than the server side
        (gateway, workers and the services they use) — else the bench measures the client."""
        if self.server_s is None:
            return None
        return self.generator_s < self.server_s + self.services_s

    def to_json(self) -> dict[str, object]:
        """The report's `cpu` block."""
        server = self.per_request_ms(None if self.server_s is None
                                     else self.server_s + self.services_s)
        share = self.generator_share
        return {
            "generator_s": round(self.generator_s, 2),
            "server_s": None if self.server_s is None else round(self.server_s, 2),
            "services_s": round(self.services_s, 2),
            "generator_processes": self.generator_processes,
            "generator_ms_per_request": _round(self.per_request_ms(self.generator_s)),
            "server_ms_per_request": _round(server),
            "generator_share": None if share is None else round(share, 3),
            "generator_cheaper": self.generator_cheaper,
            "components_ms_per_request": {
                name: _round(self.per_request_ms(seconds))
                for name, seconds in self.components.items()},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class ServerMeter:
    """CPU of the server's processes (and of the services) between `start` and `stop`.

    Processes found at either end are counted; one that starts during the window counts
    whole (it did all its work inside it), one that ends during it is missed — the bench's
    gateways and workers live for the whole run. With `database`, `components` also has
    `OWN_DATABASE`: the PostgreSQL processes working for that database (pools open their
    connections at start, so their backends live for the window too).
    """

    def __init__(self, roots: Sequence[int], database: str | None = None) -> None:
        self._roots = list(roots)
        self._database = database
        self._before: dict[str, dict[int, float]] = {}
        #: CPU seconds by component over the window, once stopped.
        self.components: dict[str, float] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        server = tree(self._roots) if self._roots else set()
        return {"server": {p: cpu_seconds(p) for p in server},
                "services": {p: cpu_seconds(p) for p in services() - server}}

    def start(self) -> None:
        """Take the first reading."""
        self._before = self._read()

    def stop(self) -> tuple[float, float]:
        """CPU seconds of (server, services) since `start`; by component in `components`."""
        after = self._read()
        spent = []
        parts = dict.fromkeys(COMPONENTS if self._roots else COMPONENTS[2:], 0.0)
        if self._database is not None:
            parts[OWN_DATABASE] = 0.0
        for group in ("server", "services"):
            before = self._before.get(group, {})
            total = 0.0
            for pid, t in after[group].items():
                used = max(0.0, t - before.get(pid, 0.0))
                total += used
                part = component(pid, service=group == "services")
                parts[part] = parts.get(part, 0.0) + used
                if (self._database is not None and part == "postgresql"
                        and database_of(pid) == self._database):
                    parts[OWN_DATABASE] += used
            spent.append(total)
        self.components = parts
        return spent[0], spent[1]
