"""What every `ticketwar` command starts from: the settings, and a database to use.

Shared by the CLI and its subcommands (surge), so none of them imports another's internals.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from engine.settings import Settings, SettingsError


def load_settings() -> Settings:
    """Settings from the environment; a bad value ends the command with a one-line message."""
    try:
        return Settings.from_env()
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
