"""A second, throwaway RabbitMQ node with no plugin enabled, beside the shared broker.

For the one test that needs a broker without the consistent-hash exchange: disabling the
plugin on the shared broker would break every other test (and other sessions) using it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.helpers import free_port

#: Starting a node takes a few seconds; an Erlang VM on a busy machine, a few more.
START_TIMEOUT_SECONDS = 90


async def _rabbitmqctl(env: dict[str, str], *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {err.decode().strip()}")


def _node_env(base: Path, node: str, port: int) -> dict[str, str]:
    """The environment of a node keeping everything under `base`, listening on `port`."""
    (base / "enabled_plugins").write_text("")
    (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    (base / "rabbitmq-env.conf").write_text("")  # not the system node's NODENAME etc.
    if os.geteuid() == 0:
        for path in [base, *base.iterdir()]:
            shutil.chown(path, "rabbitmq", "rabbitmq")
    return {**os.environ,
            "RABBITMQ_NODENAME": node, "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf")}


class NodeDidNotStart(RuntimeError):
    """The throwaway node did not come up; the message carries the tail of its logs."""


def _log_tail(base: Path, lines: int = 30) -> str:
    """The last lines of the node's logs (it writes them under `base/log`)."""
    tails = []
    for log in sorted((base / "log").glob("*.log")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        tails.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(tails) or "(no log written)"


async def _start(base: Path, env: dict[str, str], node: str,
                 server: asyncio.subprocess.Process) -> None:
    """Wait until the node runs: `wait` returns once the pid file exists and the broker
    application runs; a server that exits first, or a start past the timeout, is
    NodeDidNotStart with the node's own words."""
    waiting = asyncio.ensure_future(_rabbitmqctl(
        env, "-n", node, "--timeout", str(START_TIMEOUT_SECONDS), "wait", str(base / "pid")))
    exited = asyncio.ensure_future(server.wait())
    try:
        done, _ = await asyncio.wait({waiting, exited}, timeout=START_TIMEOUT_SECONDS,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        exited.cancel()
    if waiting in done and waiting.exception() is None:
        return
    why = (f"rabbitmq-server exited ({server.returncode})" if exited in done
           else f"{waiting.exception()}" if waiting in done
           else f"not running after {START_TIMEOUT_SECONDS} s")
    raise NodeDidNotStart(f"{why}; its log:\n{_log_tail(base)}")


@asynccontextmanager
async def rabbitmq_without_plugins() -> AsyncIterator[str]:
    """Run a RabbitMQ node of its own (name, ports, data) with no plugin; yield its AMQP URL.

    The node is stopped, and its files removed, on the way out, also when the test failed.
    A node that does not start is tried once more on new ports (CI once saw one hang for
    the whole timeout, though it starts in seconds); its log is printed, and a second
    failure fails the test with it.
    """
    for attempt in (1, 2):
        port = free_port()
        node = f"tw-noplugins-{os.getpid()}-{attempt}@localhost"
        # Not pytest's tmp_path: when started as root, rabbitmq-server drops to the rabbitmq
        # user, who cannot enter pytest's private (0700) directories.
        base = Path(tempfile.mkdtemp(prefix="tw-rabbitmq-"))
        env = _node_env(base, node, port)
        server = await asyncio.create_subprocess_exec(
            "rabbitmq-server", env=env, cwd=base, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)  # its log: base/log
        try:
            try:
                await _start(base, env, node, server)
            except NodeDidNotStart as exc:
                if attempt == 2:
                    raise
                print(f"the throwaway RabbitMQ node did not start, trying again: {exc}")
                continue
            yield f"amqp://guest:guest@127.0.0.1:{port}/"
            return
        finally:
            await _stop(base, env, node, server)


async def _stop(base: Path, env: dict[str, str], node: str,
                server: asyncio.subprocess.Process) -> None:
    """Stop the node and remove its files; a node that never started, or will not stop,
    is killed instead."""
    with contextlib.suppress(RuntimeError, TimeoutError):
        async with asyncio.timeout(60):
            await _rabbitmqctl(env, "-n", node, "stop")
            await server.wait()
    if server.returncode is None:  # the whole session: the wrapper and the VM
        os.killpg(server.pid, signal.SIGKILL)
        await server.wait()
    shutil.rmtree(base, ignore_errors=True)
