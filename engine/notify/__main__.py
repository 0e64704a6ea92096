"""`python -m engine.notify`: an outbox sender on its own (settings from the environment),
for a host that sends email without serving HTTP — `ticketwar run` already runs one in its
first gateway process. Several may run at once: each row is locked while it is sent."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

import uvloop

from engine.entrypoint import announce_ready, process_main
from engine.notify.registry import create_notifier, notifier_name
from engine.notify.sender import OutboxSender
from engine.settings import Settings
from engine.storage import create_pool


async def run_sender(settings: Settings) -> int:
    """Send until SIGTERM or SIGINT, then finish the emails in hand; the exit code."""
    assert settings.database_url is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pool = await create_pool(settings)  # applies the migrations, like every process
    await pool.close()
    sender = OutboxSender(settings.database_url.reveal(), create_notifier(settings),
                          mail_from=settings.mail_from,
                          stop_deadline_seconds=settings.shutdown_deadline_seconds,
                          retention=timedelta(days=settings.notification_retention_days),
                          workers=settings.mail_connections)
    await sender.start()
    print(f"outbox sender running ({notifier_name(settings)})", file=sys.stderr, flush=True)
    announce_ready()
    try:
        await stop.wait()
    finally:
        await sender.stop()
    return 0


def run(settings: Settings) -> int:
    """Run one sender; a missing DATABASE_URL ends it at once with a message."""
    if settings.database_url is None:
        sys.exit("engine.notify: DATABASE_URL must be set for an outbox sender")
    return uvloop.run(run_sender(settings))


def main() -> None:
    """`python -m engine.notify`."""
    process_main("engine.notify", run)


if __name__ == "__main__":
    main()
