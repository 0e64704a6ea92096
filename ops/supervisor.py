"""A small process supervisor: keeps N copies of a child process running beside `ticketwar
run` — shard workers, and with RabbitMQ the gateway processes.

A child that exits (crash, kill -9, a consumer it could not restore) is restarted with
backoff; on shutdown every child gets SIGTERM (it finishes its work in flight) and, if it
has not exited within the grace period, SIGKILL — a worker's unacked messages go back to the
queue. Children run in a session of their own, so a Ctrl-C at the terminal reaches only
`ticketwar run`, which then stops them in its order (gateways first, workers last) instead
of every process at once; and each is sent SIGTERM by the kernel if `ticketwar run` dies
(`engine.entrypoint.die_with_parent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from engine.entrypoint import READY_FD_ENV, SUPERVISED_ENV
from engine.settings import Settings

log = logging.getLogger(__name__)

#: Restart delays: quick at first (a kill -9 under load), slower if it keeps dying.
_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)

#: A child that says when it serves and exits this many times in a row without having
#: served once is given up on (a start-up error no restart will cure: a port in use).
START_ATTEMPTS = 3


class ProcessSupervisor:
    """Runs `python <args>` `count` times; child i gets `index_env(i)` on top of `env`."""

    #: What the log calls one child ("shard worker 1 started").
    role = "process"
    #: Whether children say when they serve (`engine.entrypoint.announce_ready`): only
    #: then is there a pipe, and a thread waiting on it until they do.
    announces_ready = False

    def __init__(self, count: int, args: Sequence[str], env: Mapping[str, str], *,
                 grace_seconds: float = 10.0,
                 first_start_env: Mapping[int, Mapping[str, str]] | None = None) -> None:
        self.count = count
        self._args = list(args)
        self._env = dict(env)
        # Extra environment for a child's first start only (fault injection in tests).
        self._first = {i: dict(e) for i, e in (first_start_env or {}).items()}
        self._grace = grace_seconds
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._ready = {i: asyncio.Event() for i in range(count)}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.restarts = 0
        #: Set when a child could not start START_ATTEMPTS times in a row.
        self.gave_up = asyncio.Event()

    def index_env(self, index: int) -> dict[str, str]:
        """The environment that tells child `index` who it is."""
        return {}

    async def start(self) -> None:
        """Start every child and its watcher."""
        for index in range(self.count):
            self._tasks.append(asyncio.create_task(self._keep(index),
                                                   name=f"{self.role}-{index}"))

    async def wait_ready(self) -> None:
        """Return once every child has said it serves (each writes to its ready pipe)."""
        await asyncio.gather(*(event.wait() for event in self._ready.values()))

    @property
    def pids(self) -> dict[int, int]:
        """Child index -> pid of the running process."""
        return {i: p.pid for i, p in self._procs.items() if p.returncode is None}

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        env = {**self._env, **self.index_env(index), SUPERVISED_ENV: "1",
               **self._first.pop(index, {})}
        if not self.announces_ready:
            return await asyncio.create_subprocess_exec(sys.executable, *self._args, env=env,
                                                        start_new_session=True)
        read_fd, write_fd = os.pipe()
        env[READY_FD_ENV] = str(write_fd)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *self._args, env=env, pass_fds=(write_fd,), start_new_session=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child holds it now; EOF then means it exited
        self._tasks.append(asyncio.create_task(self._await_ready(index, read_fd)))
        return proc

    async def _await_ready(self, index: int, read_fd: int) -> None:
        if await asyncio.to_thread(_read_once, read_fd):
            self._ready[index].set()

    async def _keep(self, index: int) -> None:
        failures = 0
        while not self._stopping:
            if (self.announces_ready and failures >= START_ATTEMPTS
                    and not self._ready[index].is_set()):
                log.error("%s %d exited %d times before serving; gave up", self.role, index,
                          failures)
                self.gave_up.set()
                return
            try:
                proc = await self._spawn(index)
            except OSError:  # no process to watch, but the next attempt may get one
                log.exception("%s %d could not be started", self.role, index)
                what = "was not started"
            else:
                self._procs[index] = proc
                log.info("%s %d started (pid %d)", self.role, index, proc.pid)
                code = await proc.wait()
                if self._stopping:
                    return
                what = f"(pid {proc.pid}) exited with {code}"
            failures += 1
            self.restarts += 1
            delay = _BACKOFF[min(failures - 1, len(_BACKOFF) - 1)]
            log.warning("%s %d %s; restarting in %.1fs", self.role, index, what, delay)
            await asyncio.sleep(delay)

    async def stop(self) -> int:
        """SIGTERM every child, wait for the grace period, then SIGKILL what is left.

        The exit code to report: 0 when every child exited 0 on its own, else 1.
        """
        self._stopping = True
        live = [p for p in self._procs.values() if p.returncode is None]
        if live:
            log.info("stopping %d %s process(es)", len(live), self.role)
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        killed = False
        try:
            async with asyncio.timeout(self._grace):
                await asyncio.gather(*(p.wait() for p in live))
        except TimeoutError:
            for proc in live:
                if proc.returncode is None:
                    log.warning("%s pid %d ignored SIGTERM; killing", self.role, proc.pid)
                    killed = True
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            await asyncio.gather(*(p.wait() for p in live))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if live:
            log.info("%s processes stopped", self.role)
        return 1 if killed or any(p.returncode != 0 for p in live) else 0


class WorkerSupervisor(ProcessSupervisor):
    """Runs `python -m shards` N times, each with its own SHARD_WORKER_INDEX."""

    role = "shard worker"

    def __init__(self, count: int, env: Mapping[str, str], *, grace_seconds: float = 10.0,
                 first_start_env: Mapping[int, Mapping[str, str]] | None = None) -> None:
        super().__init__(count, ["-m", "shards"], env, grace_seconds=grace_seconds,
                         first_start_env=first_start_env)

    def index_env(self, index: int) -> dict[str, str]:
        """Which shard queues worker `index` consumes actively."""
        return {"SHARD_WORKER_INDEX": str(index), "SHARD_WORKERS": str(self.count)}


class GatewaySupervisor(ProcessSupervisor):
    """Runs `python -m gateway` N times on one port (SO_REUSEPORT), each with its own
    GATEWAY_PROCESS_INDEX (which picks its metrics port)."""

    role = "gateway"
    announces_ready = True

    def __init__(self, count: int, port: int, env: Mapping[str, str], *,
                 grace_seconds: float) -> None:
        super().__init__(count, ["-m", "gateway"], env, grace_seconds=grace_seconds)
        self.port = port

    def index_env(self, index: int) -> dict[str, str]:
        """Gateway `index` of `count`, on the port the parent reserved."""
        return {"GATEWAY_PROCESS_INDEX": str(index), "GATEWAY_PROCESSES": str(self.count),
                "PORT": str(self.port)}


def _read_once(fd: int) -> bytes:
    """One byte from a child's ready pipe (b"" once it exited without one); closes the fd
    here, in the reading thread, so a cancelled waiter never closes it under a read."""
    try:
        return os.read(fd, 1)
    finally:
        os.close(fd)


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment for workers: ours, with the resolved database (embedded or not) and
    the log level (`--log-level` may have overridden LOG_LEVEL)."""
    env = dict(os.environ)
    if settings.database_url is not None:
        env["DATABASE_URL"] = settings.database_url.reveal()
    env["LOG_LEVEL"] = settings.log_level
    return env


def gateway_env(settings: Settings) -> dict[str, str]:
    """The environment for gateway processes: a worker's, plus the JWT secret resolved once
    here (configured or generated), so every process signs and verifies with the same key."""
    env = worker_env(settings)
    if settings.jwt_secret is not None:
        env["JWT_SECRET"] = settings.jwt_secret.reveal()
    if settings.payment_provider:  # resolved too: the embedded database's default `fake`
        env["PAYMENT_PROVIDER"] = settings.payment_provider
    return env
