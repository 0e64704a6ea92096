"""The `ticketwar` command as a newcomer meets it: help, accounts, and `run` on embedded
PostgreSQL with nothing configured."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from engine.types import Role
from tests.conftest import TEST_DATABASE_URL
from tests.factories import Account
from tests.helpers import Api, assert_eventually

TICKETWAR = [sys.executable, "-m", "ops.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "AMQP_URL", "JWT_SECRET", "PORT", "DATA_DIR"}}
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


@pytest.mark.slow
async def test_run_serves_on_embedded_postgres_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        *TICKETWAR, "run", "--seed-demo", env=_env(PORT=str(port), DATA_DIR=str(tmp_path)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(90):  # initdb on a cold machine takes a few seconds
            while not seen or "Press Ctrl-C" not in seen[-1]:
                line = await proc.stdout.readline()
                assert line, "".join(seen)
                seen.append(line.decode())
        output = "".join(seen)
        assert "vendor@demo.test" in output and "buyer@demo.test" in output
        assert "database: embedded, transport: inproc" in output
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/health") as resp:
                assert resp.status == 200
            async with http.get(f"http://127.0.0.1:{port}/api/events") as resp:
                assert [e["name"] for e in await resp.json()] == ["Demo Night"]
        assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    # Ctrl-C stops the embedded PostgreSQL too: nothing is left running.
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()
