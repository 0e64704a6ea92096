"""The `ticketwar` command as a newcomer meets it: help, accounts, and `run` on embedded
PostgreSQL with nothing configured."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from engine.settings import Secret, Settings
from engine.types import Role
from ops.banner import box, browser_url
from ops.supervisor import gateway_env, worker_env
from tests.conftest import TEST_AMQP_URL, TEST_DATABASE_URL
from tests.factories import Account
from tests.helpers import Api, assert_eventually, free_port
from tests.rabbitmq_node import rabbitmq_without_plugins
from tests.worker import delete_namespace

TICKETWAR = [sys.executable, "-m", "ops.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "AMQP_URL", "JWT_SECRET", "PORT", "DATA_DIR",
                        "LOG_LEVEL", "PAYMENT_PROVIDER"}}
    env["PAYMENT_PROVIDER"] = "fake"  # a configured database needs one named
    env.update(extra)
    return env


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *TICKETWAR, *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_help_lists_commands_and_settings() -> None:
    code, out = await _run("--help", env=_env())
    assert code == 0
    for word in ("run", "migrate", "users", "shards", "surge",
                 "DATABASE_URL", "AMQP_URL", "BOOKING_STRATEGY"):
        assert word in out


async def test_shards_command_refuses_to_start_without_broker_and_database() -> None:
    code, out = await _run("shards", env=_env())
    assert code != 0
    assert "AMQP_URL and DATABASE_URL must be set" in out


async def test_users_add_makes_a_vendor_who_can_sell(tmp_path: Path, db_pool: object) -> None:
    env = _env(DATABASE_URL=TEST_DATABASE_URL, DATA_DIR=str(tmp_path))
    email = f"organizer-{os.getpid()}-{id(tmp_path)}@test.example"
    code, out = await _run("users", "add", email, "--role", "VENDOR", "--password",
                           "long-enough-pw", env=env)
    assert code == 0, out
    assert "created" in out and "VENDOR" in out
    code, out = await _run("users", "add", email, "--role", "ADMIN", env=env)
    assert (code, "updated" in out, "ADMIN" in out) == (0, True, True), out
    code, out = await _run("users", "add", "not-an-email", "--role", "VENDOR",
                           "--password", "long-enough-pw", env=env)
    assert code == 2 and "email" in out


async def test_users_commands_sign_the_account_out(tmp_path: Path, api: Api) -> None:
    env = _env(DATABASE_URL=TEST_DATABASE_URL, DATA_DIR=str(tmp_path))
    vendor = await api.account(Role.VENDOR)

    async def signed_out(account: Account) -> bool:
        reply = await api.call("GET", "/api/me/tickets", account)
        return reply.status == 401 and reply.body["error"] == "session_revoked"

    async def login(password: str) -> Account | None:
        reply = await api.call("POST", "/api/auth/login",
                               json={"email": vendor.email, "password": password})
        if reply.status != 200:
            return None
        return Account(vendor.id, vendor.email, Role(reply.body["user"]["role"]),
                       reply.body["token"])

    code, out = await _run("users", "add", vendor.email, "--role", "USER", env=env)
    assert code == 0, out
    await assert_eventually(lambda: signed_out(vendor), timeout=5)

    code, out = await _run("users", "set-password", vendor.email, "--password",
                           "brand-new-password", env=env)
    assert code == 0 and "signed out" in out, out
    buyer = await login("brand-new-password")
    assert buyer is not None and buyer.role is Role.USER

    code, out = await _run("users", "remove", vendor.email, env=env)
    assert code == 0 and "removed" in out, out
    await assert_eventually(lambda: signed_out(buyer), timeout=5)
    assert await login("brand-new-password") is None
    code, out = await _run("users", "remove", vendor.email, env=env)
    assert code == 1 and "no account" in out
    code, out = await _run("users", "set-password", "nobody@test.example", "--password",
                           "long-enough-pw", env=env)
    assert code == 1 and "no account" in out


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A DATA_DIR for an embedded PostgreSQL, outside pytest's tmp tree. As root, pgserver
    runs PostgreSQL as another user and opens the directory's parents to it; a pytest
    session starting meanwhile (another checkout's) closes pytest-of-root again (mode
    0700), and initdb fails halfway with "Permission denied"."""
    path = Path(tempfile.mkdtemp(prefix="tw-run-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
async def test_run_serves_on_embedded_postgres_and_stops_cleanly(data_dir: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *TICKETWAR, "run", "--seed-demo", env=_env(PORT=str(port), DATA_DIR=str(data_dir)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(90):  # initdb on a cold machine takes a few seconds
            # The box's closing border, after the logins.
            while len(seen) < 2 or not ("buyer@demo.test" in seen[-2] and "+--" in seen[-1]):
                line = await proc.stdout.readline()
                assert line, "".join(seen)
                seen.append(line.decode())
        # Last comes a box: where to go, then the logins, after the "listening" line.
        top = max(i for i, line in enumerate(seen) if line.startswith("+--"))
        top = max(i for i, line in enumerate(seen[:top]) if line.startswith("+--"))
        box = [line.rstrip("\n") for line in seen[top:]]
        assert any("gateway listening" in line for line in seen[:top]), seen
        assert len({len(line) for line in box}) == 1, box  # the borders line up
        assert f"open http://127.0.0.1:{port}" in box[1]
        # The in-process transport keeps one gateway process, whatever GATEWAY_PROCESSES says.
        assert "database: embedded, transport: inproc (one gateway process)" in "".join(box)
        assert re.search(r"VENDOR\s+vendor@demo\.test\s+\S{8,}\s+\|$", box[-3]), box
        assert re.search(r"USER\s+buyer@demo\.test\s+\S{8,}\s+\|$", box[-2]), box
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/health") as resp:
                assert resp.status == 200
            async with http.get(f"http://127.0.0.1:{port}/api/events") as resp:
                assert [e["name"] for e in await resp.json()] == ["Demo Night"]
        assert (data_dir / "jwt_secret").stat().st_mode & 0o077 == 0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    after = rest.decode().splitlines()
    assert proc.returncode == 0, after
    # Nothing came after the box until Ctrl-C.
    assert after and "shutting down" in after[0], after
    # Ctrl-C stops the embedded PostgreSQL too: nothing is left running.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


# -- start-up errors: one line saying what is missing and how to fix it -----------------

SHARDS = [sys.executable, "-m", "shards"]


async def _start(command: list[str], **env: str) -> tuple[int, str]:
    """Run a command (ticketwar ... or python -m shards) to its end; exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        *command, env=_env(JWT_SECRET="j" * 40, **env), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def _one_line(code: int, out: str, *words: str) -> None:
    assert code != 0, out
    assert len(out.splitlines()) == 1, out
    assert "Traceback" not in out
    for word in words:
        assert word in out, out


@pytest.mark.slow
async def test_unreachable_database_is_one_line_for_every_command(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/ticketwar",
           "AMQP_URL": TEST_AMQP_URL, "DATA_DIR": str(tmp_path), "PORT": str(free_port())}
    commands = [[*TICKETWAR, "run"], [*TICKETWAR, "migrate"], [*TICKETWAR, "shards"],
                [*TICKETWAR, "users", "add", "a@test.example", "--password", "long-enough-pw"],
                SHARDS]
    # Each retries for a while (a database may be starting): all at once, to wait once.
    results = await asyncio.gather(*(_start(command, **env) for command in commands))
    for code, out in results:
        _one_line(code, out, "PostgreSQL unreachable", "DATABASE_URL")


@pytest.mark.parametrize("command", [[*TICKETWAR, "run"], [*TICKETWAR, "shards"], SHARDS],
                         ids=["run", "shards", "python-m-shards"])
async def test_unreachable_broker_is_one_line(command: list[str], db_pool: object) -> None:
    code, out = await _start(command, DATABASE_URL=TEST_DATABASE_URL,
                             AMQP_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}/",
                             PORT=str(free_port()))
    _one_line(code, out, "RabbitMQ unreachable", "AMQP_URL")


@pytest.mark.slow
async def test_broker_without_the_consistent_hash_plugin_says_how_to_enable_it(
        db_pool: object) -> None:
    async with rabbitmq_without_plugins() as amqp_url:
        env = {"DATABASE_URL": TEST_DATABASE_URL, "AMQP_URL": amqp_url,
               "PORT": str(free_port())}
        for command in ([*TICKETWAR, "run"], SHARDS):
            code, out = await _start(command, **env)
            _one_line(code, out, "rabbitmq_consistent_hash_exchange",
                      "rabbitmq-plugins enable rabbitmq_consistent_hash_exchange")
        # At DEBUG the traceback comes too, and the line still ends the output.
        code, out = await _start([*TICKETWAR, "--log-level", "DEBUG", "run"], **env)
        assert code != 0 and "Traceback" in out
        assert "rabbitmq-plugins enable" in out.splitlines()[-1]


async def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = await _start([*TICKETWAR, "run"], PORT=str(port), DATA_DIR=str(tmp_path))
    _one_line(code, out, f"port {port}", "PORT=")
    # Checked before the embedded database would start: nothing was started.
    assert not (tmp_path / "pgdata").exists()


@pytest.mark.slow
async def test_a_gateway_process_that_cannot_start_ends_run_with_its_reason(
        tmp_path: Path, db_pool: object) -> None:
    """Its metrics port taken: restarting it forever would never print a URL, so after a
    few failed starts `ticketwar run` stops everything and exits non-zero, the reason
    (one line per attempt, no traceback) above."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics_port = taken.getsockname()[1]
        prefix = f"tw-cli-{os.getpid()}"
        try:
            code, out = await _start(
                [*TICKETWAR, "run"], PORT="0", DATA_DIR=str(tmp_path),
                DATABASE_URL=TEST_DATABASE_URL, AMQP_URL=TEST_AMQP_URL, SHARD_WORKERS="0",
                AMQP_PREFIX=prefix, SHARDS="2", GATEWAY_PROCESSES="1",
                GATEWAY_METRICS_PORT=str(metrics_port))
        finally:
            await delete_namespace(TEST_AMQP_URL, prefix, 2)
    assert code != 0, out
    assert f"gateway: metrics port {metrics_port} on 127.0.0.1 is in use" in out, out
    assert "Traceback" not in out and "open http" not in out, out
    assert "gave up" in out, out


def _running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        return "(zombie)" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.slow
async def test_children_stop_when_run_is_killed(tmp_path: Path, db_pool: object) -> None:
    """Children run in a session of their own (a terminal's Ctrl-C reaches only `ticketwar
    run`, which stops them in order), so nothing else would stop them after a kill -9 of
    run: each is told by the kernel instead, and stops."""
    prefix = f"tw-cli-kill-{os.getpid()}"
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *TICKETWAR, "run", stdout=out, stderr=out, env=_env(
                JWT_SECRET="j" * 40, PORT="0", DATA_DIR=str(tmp_path),
                DATABASE_URL=TEST_DATABASE_URL, AMQP_URL=TEST_AMQP_URL, AMQP_PREFIX=prefix,
                SHARDS="2", SHARD_WORKERS="1", GATEWAY_PROCESSES="1", LOG_LEVEL="INFO"))
    try:
        async def announced() -> bool:
            assert proc.returncode is None, log.read_text()
            return "open http" in log.read_text()

        await assert_eventually(announced, timeout=60, interval=0.1)
        children = [int(pid) for pid in re.findall(r"started \(pid (\d+)\)", log.read_text())]
        assert len(children) == 2, log.read_text()
        proc.kill()
        await proc.wait()

        async def all_gone() -> bool:
            return not any(_running(pid) for pid in children)

        await assert_eventually(all_gone, timeout=30, interval=0.1,
                                message=f"children left running: {log.read_text()[-2000:]}")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await delete_namespace(TEST_AMQP_URL, prefix, 2)


#: A surge's stack, as `ticketwar surge --compare` and `make bench` start one; prints the
#: pid of its `ticketwar run` once it serves, then waits to be killed.
_A_SURGE = """
import asyncio
from ops.surge.stack import local_gateway

async def main() -> None:
    pids: list[int] = []
    async with local_gateway("queued", pids=pids):
        print("serving", pids[0], flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_surge_killed_takes_its_stack_with_it(tmp_path: Path, db_pool: object) -> None:
    """A surge (or bench) killed with -9 cannot stop the stack it started in order; its
    `ticketwar run` is told by the kernel instead, and stops (it served on, orphaned)."""
    surge = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _A_SURGE, stdout=asyncio.subprocess.PIPE,
        env=_env(JWT_SECRET="j" * 40, DATA_DIR=str(tmp_path), DATABASE_URL=TEST_DATABASE_URL))
    run = 0
    try:
        assert surge.stdout is not None
        async with asyncio.timeout(90):
            line = (await surge.stdout.readline()).decode()
        assert line.startswith("serving "), line
        run = int(line.split()[1])
        assert _running(run)
        surge.kill()
        await surge.wait()

        async def gone() -> bool:
            return not _running(run)

        await assert_eventually(gone, timeout=30, interval=0.1,
                                message="the killed surge's ticketwar run serves on")
    finally:
        if surge.returncode is None:
            surge.kill()
            await surge.wait()
        if run and _running(run):
            os.kill(run, signal.SIGKILL)


# -- LOG_LEVEL: the environment's default, --log-level overrides -----------------------


async def test_log_level_debug_from_the_environment_shows_the_traceback() -> None:
    closed = {"DATABASE_URL": TEST_DATABASE_URL, "PORT": str(free_port()),
              "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    code, out = await _start([*TICKETWAR, "run"], LOG_LEVEL="DEBUG", **closed)
    assert code != 0 and "Traceback" in out and " DEBUG " in out
    code, out = await _start(SHARDS, LOG_LEVEL="debug", **closed)
    assert code != 0 and "Traceback" in out and " DEBUG " in out
    # The option wins over the environment.
    code, out = await _start([*TICKETWAR, "--log-level", "INFO", "run"], LOG_LEVEL="DEBUG",
                             **closed)
    _one_line(code, out, "RabbitMQ unreachable")


async def test_a_configured_database_without_a_payment_provider_is_one_line(
        tmp_path: Path) -> None:
    code, out = await _start([*TICKETWAR, "run"], DATABASE_URL=TEST_DATABASE_URL,
                             PAYMENT_PROVIDER="", PORT=str(free_port()),
                             DATA_DIR=str(tmp_path))
    _one_line(code, out, "PAYMENT_PROVIDER is not set", "embedded database")


@pytest.mark.parametrize("command, env", [
    ([*TICKETWAR, "migrate"], {"LOG_LEVEL": "loud"}),
    ([*TICKETWAR, "--log-level", "loud", "migrate"], {}),
    (SHARDS, {"LOG_LEVEL": "loud"}),
], ids=["env", "option", "shards"])
async def test_a_bad_log_level_is_one_line(command: list[str], env: dict[str, str]) -> None:
    code, out = await _start(command, DATABASE_URL=TEST_DATABASE_URL, **env)
    _one_line(code, out, "'loud'", "DEBUG, INFO, WARNING")


def test_workers_inherit_the_log_level() -> None:
    settings = Settings(log_level="DEBUG", database_url=Secret(TEST_DATABASE_URL))
    env = worker_env(settings)
    assert (env["LOG_LEVEL"], env["DATABASE_URL"]) == ("DEBUG", TEST_DATABASE_URL)


def test_gateway_processes_inherit_the_resolved_payment_provider(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded database resolves PAYMENT_PROVIDER to `fake` in the parent only: its
    # gateway processes get DATABASE_URL, so they must get the provider too.
    monkeypatch.delenv("PAYMENT_PROVIDER", raising=False)
    settings = Settings(database_url=Secret(TEST_DATABASE_URL), payment_provider="fake")
    assert gateway_env(settings)["PAYMENT_PROVIDER"] == "fake"


def test_the_box_lines_up_and_shows_an_address_a_browser_can_open() -> None:
    lines = box(["open http://127.0.0.1:8080", "", "  VENDOR  vendor@demo.test  pw"]).split("\n")
    assert len({len(line) for line in lines}) == 1 and len(lines) == 5
    assert browser_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"  # listens everywhere
    assert browser_url("::", 8080) == "http://[::1]:8080"
    assert browser_url("fe80::1", 80) == "http://[fe80::1]:80"
    assert browser_url("example.test", 80) == "http://example.test:80"
