"""The shard worker process: consume shard queues, run the shard actors, shut down in order.

Runbook on SIGTERM/SIGINT: stop consuming (no new deliveries) → each actor finishes the batch
in flight (commit, ack, answer) → close the broker connection (unacked deliveries go back to
their queue for the standby) → close the database pool. Exit code 0. If an actor dies or a
consumer cannot be restored, the process exits 1 so its supervisor restarts it. Each step
is bounded, and a watchdog thread ends the process (exit code 1) if the whole shutdown
outlasts their sum.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Coroutine
from typing import Any

from prometheus_client import start_http_server

from engine.metrics import Metrics
from engine.runtime import ShardRuntime
from engine.settings import Settings
from engine.storage import create_pool
from engine.transport.amqp import AmqpShardConsumer
from shards.faults import store_for

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Run until `stop` is set (or a signal arrives); returns the process exit code."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pool = await create_pool(settings, server_settings=SESSION_SETTINGS)
    metrics = Metrics()
    metrics.up.labels("shards").set(1)
    if settings.shard_metrics_port:
        port = settings.shard_metrics_port + settings.shard_worker_index
        # prometheus_client's own server: a thread, so a busy event loop never delays a
        # scrape (and a scrape never delays a batch).
        start_http_server(port, addr=settings.host, registry=metrics.registry)
        log.info("metrics on http://%s:%d/metrics", settings.host, port)
    runtime = ShardRuntime(store_for(settings.fault_injection, pool), shards=settings.shards,
                           max_batch=settings.max_batch, metrics=metrics)
    consumer = AmqpShardConsumer(settings, runtime.submit, runtime.store, metrics=metrics)
    code = 0
    try:
        await runtime.start(consumer)
        await consumer.start()
        await runtime.wake_holds()  # forwarded through the exchange, so once it is declared
        log.info("shard worker %d/%d consuming", settings.shard_worker_index + 1,
                 settings.shard_workers)
        # The safety net for holds of events no living owner has armed (a vanished host).
        sweep = asyncio.create_task(runtime.sweep_overdue_holds(), name="hold-sweep")
        waits = {sweep, asyncio.create_task(stop.wait(), name="stop"),
                 asyncio.create_task(runtime.failed.wait(), name="actor-died"),
                 asyncio.create_task(consumer.lost.wait(), name="consumer-lost")}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        reason = next(iter(done)).get_name()
        if reason != "stop":
            log.error("shard worker exiting: %s", reason)
            code = 1
    finally:
        # Every step that talks to the broker or the database is bounded: a worker giving up
        # because its host is cut off would otherwise wait on the silent links for good —
        # and never exit for its supervisor to start it again. The watchdog bounds the whole
        # of it, the event loop's own cleanup after this function included: a cut host's
        # worker once went on reconnecting for minutes after its last step.
        _watchdog(settings.shutdown_deadline_seconds + 4 * CLOSE_SECONDS)
        if not await _bounded(consumer.stop_consuming(), "stop consuming"):
            code = 1
        if not await runtime.stop(settings.shutdown_deadline_seconds):
            code = 1  # batches abandoned: their messages go back to the queue on close
        if not await _bounded(consumer.stop(), "close the broker connection"):
            code = 1  # the broker requeues what was unacked once it drops the connection
        if not await _bounded(pool.close(), "close the database pool"):
            pool.terminate()  # the server ends the sessions once it notices
            code = 1
    return code


#: How long each shutdown step that talks to the broker or the database may take.
CLOSE_SECONDS = 5.0
#: The worker's PostgreSQL sessions. A batch's transaction never waits on anything but its
#: own statements (milliseconds), so one left idle inside a transaction this long belongs to
#: a worker that is gone — its host cut off mid-batch — and PostgreSQL ends it, releasing its
#: row locks. Without it the server keeps the dead session (it cannot tell) and its locks for
#: as long as TCP takes to give up: the standby's claim of the events (`owner_epoch`) and every
#: gateway's insert of the batch's keys waited behind them, and a client's booking went
#: unanswered for a minute at both gateways.
SESSION_SETTINGS = {"idle_in_transaction_session_timeout": "10s"}


def _watchdog(seconds: float) -> threading.Timer:
    """Leave the process, exit code 1, if it is still running `seconds` from now. A thread,
    so that neither a blocked event loop nor a task that will not be cancelled holds the
    exit up; nothing is lost by leaving: unacknowledged deliveries go back to their queues
    when the broker sees the connection gone, and every commit made is made."""
    def leave() -> None:
        log.error("shard worker: shutdown did not end within %.0fs; leaving now", seconds)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, leave)
    timer.daemon = True  # a shutdown that ends in time is not held up by it
    timer.start()
    return timer


async def _bounded(step: Coroutine[Any, Any, None], what: str) -> bool:
    """Run a shutdown step within CLOSE_SECONDS; False (logged) when it did not finish."""
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await step
    except TimeoutError:
        log.error("shard worker: could not %s within %.0fs; going on", what, CLOSE_SECONDS)
        return False
    return True
