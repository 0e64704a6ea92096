"""A fresh machine: the test session creates its own database when the server lacks it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from yarl import URL

from engine.storage.database import ensure_database
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import scratch_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def missing_database() -> AsyncIterator[URL]:
    """The URL of a database (beside the test database) that does not exist yet."""
    async with scratch_database(TEST_DATABASE_URL, "_fresh") as url:
        yield url


@pytest.mark.slow
async def test_a_session_creates_its_missing_database(missing_database: URL) -> None:
    # A whole pytest session, as `make test` starts it on a machine where nobody created
    # the test database; the test it runs needs the `db_pool` fixture.
    env = {**os.environ, "TEST_DATABASE_URL": str(missing_database)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
        "tests/test_cli.py::test_users_add_makes_a_vendor_who_can_sell", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, out.decode()
    assert "1 passed" in out.decode()


async def test_two_sessions_creating_the_database_at_once_both_succeed(
        missing_database: URL) -> None:
    await asyncio.gather(*(ensure_database(str(missing_database)) for _ in range(4)))
    conn = await asyncpg.connect(str(missing_database))
    await conn.close()


async def _output(*command: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.mark.parametrize("target", ["test", "test-fast"])
async def test_make_test_prepares_the_services_before_the_suite(target: str) -> None:
    code, plan = await _output("make", "--dry-run", "--always-make", target)
    assert code == 0, plan
    lines = plan.splitlines()
    services = next(i for i, line in enumerate(lines) if "ops/services.sh" in line)
    assert services < next(i for i, line in enumerate(lines) if "-m pytest" in line)


async def test_ci_runs_the_readme_test_command_alone() -> None:
    commands = [line for line in (ROOT / ".ci/run").read_text().splitlines()
                if line and not line.startswith(("#", "set ", "cd "))]
    assert commands == ["make test"]


@pytest.mark.slow
async def test_services_script_says_one_line_when_everything_is_up() -> None:
    # The session's services are up (the shared fixtures need them), so this is the
    # every-day case of `make test`: nothing to start, one line to say so.
    code, out = await _output("bash", "ops/services.sh")
    assert code == 0, out
    assert len(out.splitlines()) == 1 and "ready" in out, out


@pytest.mark.slow
async def test_the_package_builds_without_setuptools_warnings(tmp_path: Path) -> None:
    # What `make run` installs first: a warning there is the first thing a newcomer reads.
    code, out = await _output(sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps",
                              "--wheel-dir", str(tmp_path), str(ROOT))
    assert code == 0, out
    warnings = [line for line in out.splitlines()
                if "setuptools" in line and "Warning" in line]
    assert warnings == []
