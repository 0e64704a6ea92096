"""The load generator in several processes, and the CPU it spends beside the server's."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.auth import TokenIssuer
from engine.settings import Secret, Settings
from ops.surge import scenario as scenarios
from ops.surge.cpu import (
    OWN_DATABASE,
    ServerMeter,
    component,
    cpu_seconds,
    database_of,
    services,
    tree,
)
from ops.surge.runner import run_surge
from ops.surge.stack import local_gateway
from tests.surge.conftest import SURGE_DATABASE_URL

SCENARIOS = Path(__file__).parents[2] / "ops" / "scenarios"


def test_cpu_is_read_per_process_tree() -> None:
    assert cpu_seconds(os.getpid()) > 0
    assert cpu_seconds(2**22 + 7) == 0.0  # no such process
    assert os.getpid() in tree([os.getppid()])
    meter = ServerMeter([os.getpid()])
    meter.start()
    sum(i * i for i in range(2_000_000))  # burn a little CPU in the measured tree
    server, _ = meter.stop()
    assert server > 0
    assert meter.components["gateway"] == pytest.approx(server)  # not a shard worker
    assert set(meter.components) == {"gateway", "workers", "postgresql", "rabbitmq"}


def test_processes_are_told_apart_by_component() -> None:
    """A shard worker by its command line, the services by their command names."""
    worker = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()",
         "-m", "shards"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert worker.stdout is not None and worker.stdout.readline() == b"up\n"  # exec'd
        assert component(worker.pid, service=False) == "workers"
        assert component(os.getpid(), service=False) == "gateway"
    finally:
        worker.communicate(b"")
    postgres = [pid for pid in services()
                if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"]
    assert postgres, "no PostgreSQL process on this machine (the suite needs one)"
    assert component(postgres[0], service=True) == "postgresql"


def _checkpointers() -> list[int]:
    found = []
    for pid in services():
        try:
            if "checkpointer" in Path(f"/proc/{pid}/cmdline").read_text():
                found.append(pid)
        except FileNotFoundError:  # a backend that ended meanwhile
            continue
    return found


async def test_postgresql_cpu_of_the_runs_database_is_told_apart(surge_pool: Any) -> None:
    """A backend of the run's database counts in `postgresql_db` as well as `postgresql`;
    the server's own processes (checkpointer, WAL writer) belong to no database."""
    async with surge_pool.acquire() as conn:
        name = await conn.fetchval("SELECT current_database()")
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        assert database_of(backend) == name
        assert database_of(os.getpid()) is None
        assert _checkpointers() and not {database_of(pid) for pid in _checkpointers()} - {None}
        meter = ServerMeter([], database=name)
        meter.start()
        await conn.fetchval("SELECT count(*) FROM generate_series(1, 3000000)")
        meter.stop()
    own = meter.components[OWN_DATABASE]
    assert own >= 0.01  # counting three million rows costs a tenth of a second or more
    assert own <= meter.components["postgresql"]


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_surge_from_two_generator_processes_reports_their_cpu(
        surge_pool: Any, tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(48)
    settings = Settings(database_url=Secret(SURGE_DATABASE_URL), jwt_secret=Secret(secret),
                        data_dir=tmp_path)
    scenario = scenarios.scaled(scenarios.load(SCENARIOS / "hot-event.toml"), 600)
    pids: list[int] = []
    env = {"DATABASE_URL": SURGE_DATABASE_URL, "JWT_SECRET": secret,
           "DATA_DIR": str(tmp_path / ".ticketwar")}
    async with local_gateway("queued", env, pids=pids) as url:
        result = await run_surge(scenario, url, surge_pool, TokenIssuer(settings),
                                 strategy="queued", processes=2, server_pids=pids)
    row = result.to_json()
    assert row["invariants_ok"], row["violations"]
    assert row["requests"] == 600 and row["confirmed_seats"] == scenario.events.seats
    cpu = row["cpu"]
    assert cpu["generator_processes"] == 2
    assert cpu["generator_s"] > 0 and cpu["server_s"] > 0
    assert 0 < cpu["generator_share"] < 1


def test_a_server_not_started_here_has_no_cpu_figure() -> None:
    from ops.surge.cpu import CpuShare

    unknown = CpuShare(1.0, None, 0.5, 1000).to_json()
    assert unknown["server_s"] is None and unknown["generator_cheaper"] is None
    assert unknown["generator_ms_per_request"] == 1.0 and unknown["generator_share"] is None
    known = CpuShare(1.0, 2.0, 1.0, 1000).to_json()
    assert known["generator_cheaper"] is True and known["generator_share"] == 0.25
    assert known["server_ms_per_request"] == 3.0
    assert CpuShare(4.0, 2.0, 1.0, 1000).generator_cheaper is False
