"""One namespace cluster (ops/cluster/) for every cluster test: bringing ten hosts up is
most of a test's time, so they share it (a package fixture), each test leaving it whole
(every host healed, every process alive, every worker consuming) for the next."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ops.cluster import netns, topology
from tests.cluster.cluster import rejoined, ticketwar

#: Where each cluster's host logs are kept after `down` (ignored by git, like the rest).
LOGS = Path(__file__).resolve().parents[2] / ".ticketwar" / "cluster-logs"


@pytest.fixture(scope="package")
async def cluster_dir() -> AsyncIterator[Path]:
    """A cluster up for the tests of this package, and down (every namespace gone) after the
    last of them, whatever happened — not at the end of the session, so the rest of a
    `make test` does not share the machine with ten idle hosts. Its state in a temporary
    directory PostgreSQL's user can reach."""
    state_dir = Path(tempfile.mkdtemp(prefix="ticketwar-cluster-"))
    os.chmod(state_dir, 0o755)
    started = time.monotonic()
    try:
        await ticketwar(state_dir, "up")
        print(f"cluster up in {time.monotonic() - started:.1f}s")
        yield state_dir
    finally:
        # The hosts' logs outlive the cluster, in the checkout's own state directory: a
        # failure found in CI must be readable after `down`, and pytest's temporary
        # directories are removed by its next three sessions (a CI run's were, before
        # anyone read them).
        kept = LOGS / time.strftime("%Y%m%d-%H%M%S")
        kept.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_keep_logs, state_dir, kept)
        print(f"cluster logs kept in {kept}")
        await ticketwar(state_dir, "down")
        assert netns.ours() == [], "namespaces left after down"
        shutil.rmtree(state_dir, ignore_errors=True)


def _keep_logs(state_dir: Path, kept: Path) -> None:
    for log in [*state_dir.glob("*/*.log"), *state_dir.glob("*/log/*.log")]:
        name = "-".join(log.relative_to(state_dir).parts)
        shutil.copy(log, kept / name)


@pytest.fixture
async def cluster(cluster_dir: Path) -> AsyncIterator[Path]:
    """The shared cluster, whole at the start of the test; every host healed after it
    (a test that failed half-way must not leave the next one a cut host)."""
    await rejoined(cluster_dir)
    try:
        yield cluster_dir
    finally:
        for h in topology.HOSTS:
            await ticketwar(cluster_dir, "heal", h.name)
