"""The outbox sender: drains the notifications outbox through a `Notifier`.

Woken by `LISTEN` on the outbox's channel (the triggers `pg_notify` at commit), it sends
every row that is due, then waits for the next wake-up, for the earliest retry to fall due,
or for the sweep (`SWEEP_SECONDS`) — the safety net for a notification missed while its
listening connection was down; the sweep is not how the sender learns of new rows.

Rows are sent in batches (`BATCH`), each inside the transaction that claimed it
(`engine/storage/outbox.py`): the batch stays locked while its emails are handed over, one
by one, and every outcome is recorded in the same transaction — one claim and one update
for the lot. So any number of senders (every host's, or several in one) share the outbox
without sending a row twice at the same time, and the only duplicates possible are the
batch's emails already accepted when a sender died before its commit — resent with the same
Message-IDs, so each is recognisable as a copy.

A transient failure (4xx, the server away) is tried again later with exponential backoff
(`BACKOFF_SECONDS`), on the clock the sender is given; a permanent one (5xx), or
`MAX_ATTEMPTS` transient ones, marks the row failed with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from engine.metrics import Metrics
from engine.notify.notifier import Notifier, PermanentFailure, TransientFailure
from engine.notify.templates import compose
from engine.settings import Settings
from engine.storage import outbox
from engine.storage.database import TRANSIENT_DB_ERRORS, counting, keep_session
from engine.storage.outbox import Notice, Outcome
from engine.types import Clock, Sleeper, utcnow

log = logging.getLogger(__name__)

#: Batches sent at once by one sender (MAIL_CONNECTIONS by default): each holds a connection
#: of the sender's own pool (never the gateway's, whose connections the hot path and
#: embedded actors need) while it sends.
WORKERS = Settings.mail_connections
#: Rows one transaction claims, sends and records: one claim and one record for the lot,
#: instead of four round trips per email. It is also the most emails a sender killed
#: mid-batch sends twice (each copy with its Message-ID, so it is recognisable as one).
BATCH = 20
#: The safety net: look at the outbox this often even when nothing was heard.
SWEEP_SECONDS = 60.0
#: Wait before the n-th retry: first, doubled each time, at most the second value.
BACKOFF_SECONDS = (5.0, 600.0)
#: Transient failures before a row is given up (about 50 minutes of retries).
MAX_ATTEMPTS = 12
#: Longest pause before listening again after the listening connection was lost.
MAX_RELISTEN_SECONDS = 5.0
#: How often the sender deletes settled rows past their retention, and how many at a time.
PRUNE_EVERY = timedelta(hours=1)
PRUNE_BATCH = 1000


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failure (1-based)."""
    first, most = BACKOFF_SECONDS
    return float(min(first * 2 ** (attempts - 1), most))


class OutboxSender:
    """Sends what the outbox holds; `start()`, an idempotent `stop()`, and `drain()` (send
    everything due now, the tests' barrier)."""

    def __init__(self, dsn: str, notifier: Notifier, *, mail_from: str,
                 metrics: Metrics | None = None, clock: Clock = utcnow,
                 sleeper: Sleeper = asyncio.sleep, workers: int = WORKERS,
                 batch: int = BATCH,
                 stop_deadline_seconds: float = 30.0,
                 retention: timedelta = timedelta(days=30),
                 on_statement: Callable[[], None] | None = None) -> None:
        self._dsn = dsn
        self._notifier = notifier
        self._mail_from = mail_from
        self._metrics = metrics
        self._clock = clock
        self._sleeper = sleeper
        self._workers = workers
        self._batch = batch
        self._stop_deadline = stop_deadline_seconds
        self._retention = retention
        self._on_statement = on_statement
        self._pruned_at: datetime | None = None
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the sender's pool and start sending in the background (listening first, so
        nothing committed from now on goes unheard; the first round sends the backlog)."""
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._workers, reset=keep_session,
            init=None if self._on_statement is None else counting(self._on_statement))
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self) -> None:
        """Finish the emails being sent (bounded by the stop deadline), take no more, close
        the connections; idempotent."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                # Shielded: a send cut short after the server accepted it is a duplicate.
                await asyncio.wait_for(asyncio.shield(task), self._stop_deadline)
            except TimeoutError:
                log.warning("outbox sender still sending after %.0fs; abandoned (those rows"
                            " are sent again later)", self._stop_deadline)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self._unlisten()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
        await self._notifier.close()

    async def drain(self) -> int:
        """Send every row due now (several at once); how many rows this call finished.
        A database that goes away ends the round early (its rows are sent later)."""
        counts = await asyncio.gather(*(self._drain_one_worker()
                                        for _ in range(self._workers)))
        return sum(counts)

    async def prune(self) -> int:
        """Delete the rows settled (sent or given up) longer ago than the retention, in
        bounded batches; how many. The sender's loop calls it every `PRUNE_EVERY`."""
        assert self._pool is not None, "start() first"
        self._pruned_at = now = self._clock()
        deleted = 0
        while not self._stopping:
            batch = await outbox.prune(self._pool, now - self._retention, PRUNE_BATCH)
            deleted += batch
            if batch < PRUNE_BATCH:
                break
        if deleted:
            log.info("outbox: deleted %d notifications settled before %s", deleted,
                     (now - self._retention).isoformat(timespec="seconds"))
        return deleted

    async def _drain_one_worker(self) -> int:
        done = 0
        try:
            while not self._stopping and (sent := await self._send_batch()):
                done += sent
        except TRANSIENT_DB_ERRORS as exc:
            # The batch in hand stays unmarked: sent again once the database is back.
            log.warning("outbox sender: database unavailable (%s)", exc)
        return done

    async def _send_batch(self) -> int:
        """Claim a batch of due rows, send them, record every outcome, in one transaction;
        how many rows it settled or rescheduled (0: nothing was due)."""
        assert self._pool is not None, "start() first"
        outcomes: list[tuple[Notice, Outcome]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for notice in await outbox.claim(conn, self._clock(), self._batch):
                if self._stopping:
                    break  # the rest stay unmarked, for the next sender to send
                outcomes.append((notice, await self._deliver(notice)))
            await outbox.record(conn, [outcome for _, outcome in outcomes])
        for notice, outcome in outcomes:
            self._settled(notice, outcome)
        return len(outcomes)

    async def _deliver(self, notice: Notice) -> Outcome:
        now = self._clock()
        if notice.email is None:
            return Outcome.failed(notice.id, now, "the account was removed: no address")
        try:
            await self._notifier.send(compose(notice, mail_from=self._mail_from, now=now))
        except PermanentFailure as exc:
            return Outcome.failed(notice.id, now, exc.reason)
        except TransientFailure as exc:
            attempts = notice.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                return Outcome.failed(notice.id, now, f"gave up after {attempts} attempts: "
                                                      f"{exc.reason}")
            return Outcome.retry(notice.id, now + timedelta(seconds=backoff(attempts)),
                                 exc.reason)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop every other email
            # Like the actor's poison command: this row alone is set aside, loudly.
            log.exception("notification %s (%s) could not be sent", notice.id, notice.kind)
            return Outcome.failed(notice.id, now, f"{type(exc).__name__}: {exc}")
        return Outcome.sent(notice.id, now)

    def _settled(self, notice: Notice, outcome: Outcome) -> None:
        """Log and count an outcome once it is committed."""
        if outcome.failed_at is not None:
            log.warning("notification %s (%s) failed: %s", notice.id, notice.kind,
                        outcome.error)
            self._count(notice, "failed")
        elif outcome.due_at is not None:
            log.info("notification %s (%s) not sent (%s); again at %s", notice.id,
                     notice.kind, outcome.error, outcome.due_at.isoformat(timespec="seconds"))
            self._count(notice, "retried")
        else:
            self._count(notice, "sent")

    def _count(self, notice: Notice, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.notifications.labels(notice.kind, outcome).inc()

    # -- waking up ------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop()
        except Exception:
            log.exception("outbox sender stopped by an error")
            raise

    async def _loop(self) -> None:
        relisten = 0.1
        while not self._stopping:
            if self._listener is None or self._listener.is_closed():
                try:
                    await self._listen()
                    relisten = 0.1
                except TRANSIENT_DB_ERRORS as exc:
                    log.warning("outbox sender cannot listen (%s); sweeping meanwhile", exc)
            self._wake.clear()
            try:
                await self.drain()
                if self._pruned_at is None or self._clock() - self._pruned_at >= PRUNE_EVERY:
                    await self.prune()
                wait = await self._until_next_due()
            except TRANSIENT_DB_ERRORS as exc:
                log.warning("outbox sender: database unavailable (%s)", exc)
                wait = relisten
            if self._listener is None or self._listener.is_closed():
                wait = min(wait, relisten)
                relisten = min(relisten * 2, MAX_RELISTEN_SECONDS)
            await self._wait(wait)

    async def _until_next_due(self) -> float:
        assert self._pool is not None
        due = await outbox.next_due(self._pool)
        if due is None:
            return SWEEP_SECONDS
        return min(max((due - self._clock()).total_seconds(), 0.0), SWEEP_SECONDS)

    async def _wait(self, seconds: float) -> None:
        """Until woken (a NOTIFY, a lost connection, stop) or `seconds` on the sleeper."""
        if self._wake.is_set():
            return
        sleep = asyncio.ensure_future(self._sleeper(seconds))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleep, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleep, woken):
                waiter.cancel()
            await asyncio.gather(sleep, woken, return_exceptions=True)

    async def _listen(self) -> None:
        await self._unlisten()
        conn = await asyncpg.connect(self._dsn, timeout=10)
        try:
            conn.add_termination_listener(lambda _: self._wake.set())
            await conn.add_listener(outbox.CHANNEL, self._heard)
        except BaseException:
            conn.terminate()
            raise
        self._listener = conn

    def _heard(self, conn: object, pid: int, channel: str, payload: object) -> None:
        self._wake.set()

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                await conn.close(timeout=2)
            if not conn.is_closed():
                conn.terminate()
