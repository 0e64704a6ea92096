"""`python -m shards`: one shard worker process (settings from the environment)."""

from __future__ import annotations

import sys

import uvloop

from engine.entrypoint import configure_logging, startup_errors
from engine.settings import Settings, SettingsError
from shards.worker import run_worker


def run(settings: Settings) -> int:
    """Run one worker until signalled; its exit code. Without a broker or a database it
    ends at once with a message (SystemExit)."""
    if settings.amqp_url is None or settings.database_url is None:
        sys.exit("shards: AMQP_URL and DATABASE_URL must be set for a shard worker")
    return uvloop.run(run_worker(settings))


def main() -> None:
    """`python -m shards`: exit non-zero if the worker failed or could not start."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"shards: bad setting: {exc}")
    configure_logging(settings.log_level)
    with startup_errors("shards"):
        sys.exit(run(settings))


if __name__ == "__main__":
    main()
