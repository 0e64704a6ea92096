"""How long a gateway request waits for a database read: a bound per request task.

A cut database host drops packets without a reset, so a statement waits for asyncpg's
command timeout (30 s) and a pool acquire for a connection that never comes back. The
gateway marks each request's task with DB_REQUEST_TIMEOUT_SECONDS (`bounded`); a read made
in that task through `translate_db_errors(read=True)` waits at most that long, then answers
`503 database_timeout`.

The mark names the task, not only the context: tasks a request starts inherit its context
variables, and must not inherit the bound — a shard actor's commit, a re-send, a trace
written after the answer have their own retries and may take as long as they need. Writes
are never bounded here: a write given up on may still commit, and 503 says "not done".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg

_bound: ContextVar[tuple[asyncio.Task[object], float] | None] = ContextVar(
    "db_read_bound", default=None)


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Within the block, reads made by the current task wait at most `seconds` each."""
    task = asyncio.current_task()
    assert task is not None, "bounded() runs inside a task"
    token = _bound.set((task, seconds))
    try:
        yield
    finally:
        _bound.reset(token)


def read_bound() -> float | None:
    """The current task's bound on one read, or None (not a request's task: no bound)."""
    mark = _bound.get()
    if mark is None or mark[0] is not asyncio.current_task():
        return None
    return mark[1]


class BoundedPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no types
    """A pool whose acquires in a bounded request task wait at most the bound, and so do
    their releases.

    The release matters as much as the acquire: a statement given up on (the read's
    deadline cancelled it) leaves asyncpg sending a cancel request over the same silent
    network, and releasing the connection waits for that cancellation — without a timeout,
    as long as the cut lasts. With one, the connection is terminated instead (a new one is
    opened when needed) and the request is answered. Outside a request task acquires and
    releases wait as asyncpg's do.
    """

    def acquire(self, *, timeout: float | None = None) -> Any:
        """A connection; `timeout` defaults to the current task's bound (None: none)."""
        return super().acquire(timeout=read_bound() if timeout is None else timeout)
