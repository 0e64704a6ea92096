"""Start a local gateway (with its shard workers) as a child process, for `--compare` and
`make bench`: one fresh process per strategy, stopped with Ctrl-C semantics afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp

from engine.entrypoint import SUPERVISED_ENV


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def local_gateway(strategy: str, extra_env: Mapping[str, str] | None = None,
                        startup_seconds: float = 90.0,
                        pids: list[int] | None = None,
                        log_path: Path | None = None) -> AsyncIterator[str]:
    """`ticketwar run` with BOOKING_STRATEGY=strategy; yields its base URL once healthy.
    The gateway's process id is appended to `pids`, if given (to read its memory). Its
    log (warnings and errors of every process) goes to `log_path`, kept afterwards, if
    given; else to a temporary file, read only to say why it failed to start."""
    port = free_port()
    # A local stack for measurements: the fake provider unless one is named.
    env = {"PAYMENT_PROVIDER": "fake", **os.environ, "BOOKING_STRATEGY": strategy,
           "ALLOW_NAIVE": "1", "PORT": str(port), "HOST": "127.0.0.1", **(extra_env or {}),
           # It stops if this process is killed before it could stop it (die_with_parent).
           SUPERVISED_ENV: "1"}
    # A file, not a pipe: nobody reads the logs while it runs, and a full pipe would
    # block the gateway (and its workers, who share it) mid-surge.
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    log = tempfile.TemporaryFile() if log_path is None else log_path.open("w+b")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ops.cli", "--log-level", "WARNING", "run", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=log)
    if pids is not None:
        pids.append(proc.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = asyncio.get_running_loop().time() + startup_seconds
            while True:
                if proc.returncode is not None:
                    log.seek(0)
                    err = log.read().decode(errors="replace")
                    raise RuntimeError(f"the {strategy} gateway exited: {err[-2000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{url}/api/health") as resp:
                        if resp.status == 200:
                            break
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"the {strategy} gateway did not become healthy")
                await asyncio.sleep(0.2)  # polling a child process that has no other signal
        yield url
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


def log_summary(path: Path, top: int = 3) -> str:
    """One line on a kept stack log: its path, its warnings and errors, the commonest."""
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split(" ", 4)  # date time LEVEL logger: message
        if len(parts) == 5 and parts[2] in ("WARNING", "ERROR"):
            levels[parts[2]] += 1
            messages[f"{parts[3]} {parts[4][:80]}"] += 1
    said = "; ".join(f"{n} × {text}" for text, n in messages.most_common(top))
    return (f"stack log {path}: {levels['WARNING']} warnings, {levels['ERROR']} errors"
            + (f" ({said})" if said else ""))
