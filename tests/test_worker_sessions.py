"""The shard worker's PostgreSQL sessions end themselves when left idle inside a
transaction (issue 15): a worker cut off mid-batch otherwise leaves its session, and the row
locks of its open batch, to the server for as long as TCP takes to give up — the standby's
claim of its events and the gateways' inserts of the batch's keys waited behind them in a
cluster test, and a booking went unanswered at both gateways for a minute."""

from __future__ import annotations

from typing import Any

from engine.storage import create_pool
from shards.worker import SESSION_SETTINGS


async def test_a_worker_session_left_idle_in_a_transaction_is_ended_by_the_server(
        make_settings: Any) -> None:
    settings = make_settings()
    worker = await create_pool(settings, apply_migrations=False,
                               server_settings=SESSION_SETTINGS)
    # The gateways' sessions keep the server's default: their transactions may wait on
    # other work (a notification's SMTP exchange), which this bound would cut short.
    gateway = await create_pool(settings, apply_migrations=False)
    try:
        show = "SHOW idle_in_transaction_session_timeout"
        assert (await worker.fetchval(show), await gateway.fetchval(show)) == ("10s", "0")
    finally:
        await worker.close()
        await gateway.close()
