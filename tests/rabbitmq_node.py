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


@asynccontextmanager
async def rabbitmq_without_plugins() -> AsyncIterator[str]:
    """Run a RabbitMQ node of its own (name, ports, data) with no plugin; yield its AMQP URL.

    The node is stopped, and its files removed, on the way out, also when the test failed.
    """
    port = free_port()
    node = f"tw-noplugins-{os.getpid()}@localhost"
    # Not pytest's tmp_path: when started as root, rabbitmq-server drops to the rabbitmq
    # user, who cannot enter pytest's private (0700) directories.
    base = Path(tempfile.mkdtemp(prefix="tw-rabbitmq-"))
    env = _node_env(base, node, port)
    server = await asyncio.create_subprocess_exec(
        "rabbitmq-server", env=env, cwd=base, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)  # its log: base/log
    try:
        # `wait` returns once the pid file exists and the broker application runs.
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            await _rabbitmqctl(env, "-n", node, "--timeout", str(START_TIMEOUT_SECONDS),
                               "wait", str(base / "pid"))
        yield f"amqp://guest:guest@127.0.0.1:{port}/"
    finally:
        # A node that never started, or will not stop, is killed below instead.
        with contextlib.suppress(RuntimeError, TimeoutError):
            async with asyncio.timeout(60):
                await _rabbitmqctl(env, "-n", node, "stop")
                await server.wait()
        if server.returncode is None:  # the whole session: the wrapper and the VM
            os.killpg(server.pid, signal.SIGKILL)
            await server.wait()
        shutil.rmtree(base, ignore_errors=True)
