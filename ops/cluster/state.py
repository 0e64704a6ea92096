"""The cluster's state directory: data of PostgreSQL and RabbitMQ, logs, and state.json
(the shared secrets and every process started, by host)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path(".ticketwar") / "cluster"


@dataclass
class State:
    """What `up` made and `status`/`down` read."""

    root: Path
    jwt_secret: str = ""
    cookie: str = ""
    #: host name -> [(what, pid)]
    processes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    rabbit_nodes: int = 3

    @property
    def file(self) -> Path:
        """state.json."""
        return self.root / "state.json"

    def host_dir(self, name: str) -> Path:
        """A host's own directory (its data and logs)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, host: str, what: str, pid: int) -> None:
        """Record a process started on `host`, and save at once (a failed `up` leaves a
        state `down` can read)."""
        self.processes.setdefault(host, []).append((what, pid))
        self.save()

    def save(self) -> None:
        """Write state.json, readable by its owner only (it holds the JWT secret)."""
        self.root.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {"jwt_secret": self.jwt_secret, "cookie": self.cookie,
                                "processes": self.processes, "rabbit_nodes": self.rabbit_nodes}
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(self.file)

    @classmethod
    def load(cls, root: Path) -> State | None:
        """The saved state, or None when there is none."""
        try:
            data = json.loads((root / "state.json").read_text())
        except FileNotFoundError:
            return None
        return cls(root, data["jwt_secret"], data["cookie"],
                   {h: [(w, int(p)) for w, p in ps] for h, ps in data["processes"].items()},
                   int(data.get("rabbit_nodes", 3)))
