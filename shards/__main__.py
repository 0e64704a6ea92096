"""`python -m shards`: one shard worker process (settings from the environment)."""

from __future__ import annotations

import sys

import uvloop

from engine.entrypoint import process_main
from engine.settings import Settings
from shards.worker import run_worker


def run(settings: Settings) -> int:
    """Run one worker until signalled; its exit code. Without a broker or a database it
    ends at once with a message (SystemExit)."""
    if settings.amqp_url is None or settings.database_url is None:
        sys.exit("shards: AMQP_URL and DATABASE_URL must be set for a shard worker")
    return uvloop.run(run_worker(settings))


def main() -> None:
    """`python -m shards`: exit non-zero if the worker failed or could not start."""
    process_main("shards", run)


if __name__ == "__main__":
    main()
