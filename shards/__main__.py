"""`python -m shards`: one shard worker process (settings from the environment)."""

from __future__ import annotations

import logging
import sys

import uvloop

from engine.settings import Settings, SettingsError
from shards.worker import run_worker


def main() -> None:
    """Run one worker until signalled; exit non-zero if it failed."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"shards: bad setting: {exc}")
    if settings.amqp_url is None or settings.database_url is None:
        sys.exit("shards: AMQP_URL and DATABASE_URL must be set for a shard worker")
    sys.exit(uvloop.run(run_worker(settings)))


if __name__ == "__main__":
    main()
