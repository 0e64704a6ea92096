"""`python -m shards`: one shard worker process (settings from the environment)."""

from __future__ import annotations

import logging
import sys

import uvloop

from engine.settings import Settings, SettingsError
from shards.worker import run_worker


def run() -> int:
    """Run one worker from the environment's settings until signalled; its exit code.
    A setting it cannot run with ends it at once with a message (SystemExit)."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"shards: bad setting: {exc}")
    if settings.amqp_url is None or settings.database_url is None:
        sys.exit("shards: AMQP_URL and DATABASE_URL must be set for a shard worker")
    return uvloop.run(run_worker(settings))


def main() -> None:
    """`python -m shards`: exit non-zero if the worker failed."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(run())


if __name__ == "__main__":
    main()
