"""A small process supervisor: keeps N shard workers running beside the gateway.

A worker that exits (crash, kill -9, a consumer it could not restore) is restarted with
backoff; on shutdown every worker gets SIGTERM (it finishes its batch in flight) and, if it
has not exited within the grace period, SIGKILL — its unacked messages go back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping

from engine.settings import Settings

log = logging.getLogger(__name__)

#: Restart delays: quick at first (a kill -9 under load), slower if it keeps dying.
_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


class WorkerSupervisor:
    """Runs `python -m shards` N times, each with its own SHARD_WORKER_INDEX."""

    def __init__(self, count: int, env: Mapping[str, str], *, grace_seconds: float = 10.0,
                 first_start_env: Mapping[int, Mapping[str, str]] | None = None) -> None:
        self.count = count
        self._env = dict(env)
        # Extra environment for a worker's first start only (fault injection in tests).
        self._first = {i: dict(e) for i, e in (first_start_env or {}).items()}
        self._grace = grace_seconds
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.restarts = 0

    async def start(self) -> None:
        """Start every worker and its watcher."""
        for index in range(self.count):
            self._tasks.append(asyncio.create_task(self._keep(index), name=f"worker-{index}"))

    @property
    def pids(self) -> dict[int, int]:
        """Worker index -> pid of the running process."""
        return {i: p.pid for i, p in self._procs.items() if p.returncode is None}

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        env = {**self._env, "SHARD_WORKER_INDEX": str(index),
               "SHARD_WORKERS": str(self.count), **self._first.pop(index, {})}
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "shards", env=env)

    async def _keep(self, index: int) -> None:
        failures = 0
        while not self._stopping:
            proc = await self._spawn(index)
            self._procs[index] = proc
            log.info("shard worker %d started (pid %d)", index, proc.pid)
            code = await proc.wait()
            if self._stopping:
                return
            failures += 1
            self.restarts += 1
            delay = _BACKOFF[min(failures - 1, len(_BACKOFF) - 1)]
            log.warning("shard worker %d (pid %d) exited with %s; restarting in %.1fs",
                        index, proc.pid, code, delay)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """SIGTERM every worker, wait for the grace period, then SIGKILL what is left."""
        self._stopping = True
        live = [p for p in self._procs.values() if p.returncode is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self._grace):
                await asyncio.gather(*(p.wait() for p in live))
        except TimeoutError:
            for proc in live:
                if proc.returncode is None:
                    log.warning("shard worker pid %d ignored SIGTERM; killing", proc.pid)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            await asyncio.gather(*(p.wait() for p in live))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment for workers: ours, with the resolved database (embedded or not) and
    the log level (`--log-level` may have overridden LOG_LEVEL)."""
    env = dict(os.environ)
    if settings.database_url is not None:
        env["DATABASE_URL"] = settings.database_url.reveal()
    env["LOG_LEVEL"] = settings.log_level
    return env
