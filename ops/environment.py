"""What every `ticketwar` command starts from: the settings, and a database to use.

Shared by the CLI and its subcommands (surge), so none of them imports another's internals.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from engine.settings import LOG_LEVELS, Settings, SettingsError


def load_settings(*, log_level: str | None = None) -> Settings:
    """Settings from the environment, `--log-level` (when given) overriding LOG_LEVEL.

    A bad value ends the command with a one-line message.
    """
    env = dict(os.environ)
    if log_level is not None:
        if log_level.upper() not in LOG_LEVELS:
            sys.exit(f"ticketwar: bad option: --log-level {log_level!r}: not one of "
                     f"{', '.join(LOG_LEVELS)}")
        env["LOG_LEVEL"] = log_level
    try:
        return Settings.from_env(env)
    except SettingsError as exc:
        sys.exit(f"ticketwar: bad setting: {exc}")


@contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """The settings with a database: configured, or embedded for as long as the block runs."""
    from engine.storage.database import embedded_database

    if settings.database_url is None:
        print(f"starting embedded PostgreSQL in {settings.data_dir}/pgdata ...", flush=True)
    with embedded_database(settings) as resolved:
        yield resolved
