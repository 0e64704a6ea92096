"""Fault injection for the fault tests: deterministic crashes at the worst moments.

Active only when FAULT_INJECTION is set (never by default). `crash_after_commit:N` kills the
worker with SIGKILL right after its N-th batch commits and before that batch is acked — the
window in which a naive design loses or duplicates orders. `crash_after_event_cancel` does
the same right after the batch that cancels an event commits: the refunds it owes are in the
outbox, and nobody has been answered.
"""

from __future__ import annotations

import logging
import os
import signal

import asyncpg

from engine.storage.shard_store import BatchWrite, PgShardStore

log = logging.getLogger(__name__)


class CrashAfterCommitStore(PgShardStore):
    """A PgShardStore that SIGKILLs its own process after the N-th committed batch."""

    def __init__(self, pool: asyncpg.Pool, after: int) -> None:
        super().__init__(pool)
        self._left = after

    async def commit(self, batch: BatchWrite) -> None:
        """Commit, then maybe die before anyone acks."""
        await super().commit(batch)
        self._left -= 1
        if self._left == 0:
            log.warning("fault injection: SIGKILL after commit, before ack")
            os.kill(os.getpid(), signal.SIGKILL)


class CrashAfterEventCancelStore(PgShardStore):
    """A PgShardStore that SIGKILLs its own process after committing an event's cancel."""

    async def commit(self, batch: BatchWrite) -> None:
        """Commit, then die before anyone acks if the batch cancelled an event."""
        await super().commit(batch)
        if batch.events_cancelled:
            log.warning("fault injection: SIGKILL after an event's cancel, before ack")
            os.kill(os.getpid(), signal.SIGKILL)


def store_for(spec: str, pool: asyncpg.Pool) -> PgShardStore:
    """The shard store FAULT_INJECTION asks for (a plain one when empty)."""
    if not spec:
        return PgShardStore(pool)
    kind, _, arg = spec.partition(":")
    if kind == "crash_after_commit":
        return CrashAfterCommitStore(pool, int(arg or 1))
    if kind == "crash_after_event_cancel":
        return CrashAfterEventCancelStore(pool)
    raise ValueError(f"unknown FAULT_INJECTION {spec!r}")
