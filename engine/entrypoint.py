"""What every process does at its entry point: log at the configured level, and report a
start-up failure as one line (with the traceback too when the level is DEBUG)."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from engine.errors import StartupError
from engine.settings import Settings, SettingsError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """Log to stderr at `level` (a validated `Settings.log_level`)."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    # pgserver narrates every pg_ctl call at INFO; its warnings are what an operator needs.
    logging.getLogger("pgserver").setLevel(max(logging.WARNING, logging.root.level))


@contextmanager
def startup_errors(prog: str) -> Iterator[None]:
    """Turn a `StartupError` into `prog: what is missing. How to fix it.` and exit 1."""
    try:
        yield
    except StartupError as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            traceback.print_exception(exc)
        sys.exit(f"{prog}: {exc}")


#: The environment variable naming the pipe a supervised child writes one byte to once it
#: serves (`ops/supervisor.py` creates the pipe; the child inherits its write end).
READY_FD_ENV = "TICKETWAR_READY_FD"


def announce_ready() -> None:
    """Tell the supervising `ticketwar run` that this process serves (nothing if
    unsupervised). Once only: the pipe is closed afterwards."""
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is not None:
        os.write(int(fd), b"1")
        os.close(int(fd))


#: Set by the supervisor of `ticketwar run` in the environment of every child it starts,
#: and by a surge (`ops/surge/stack.py`) in that of the `ticketwar run` it starts.
SUPERVISED_ENV = "TICKETWAR_SUPERVISED"
#: prctl(2) option: the signal this process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def die_with_parent(prog: str, parent: str = "ticketwar run") -> None:
    """When started by a parent that owns it (`ticketwar run` its children, a surge its
    `ticketwar run`), be sent SIGTERM (an ordered stop) if it dies, even by kill -9: its
    children run in a session of their own, so nothing else would stop them, and a gateway
    left behind would go on taking connections on its port. Not when started by hand: a
    shell that goes away must not take a `nohup ticketwar run` with it."""
    if not os.environ.get(SUPERVISED_ENV) or not sys.platform.startswith("linux"):
        return  # started by hand, or no prctl
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl: nobody would signal us
        sys.exit(f"{prog}: {parent} is gone")


def process_main(prog: str, run: Callable[[Settings], int]) -> NoReturn:
    """The `python -m <prog>` entry of a child process: settings from the environment (a
    bad one is a one-line exit), logging, then `run`'s exit code (a start-up error is one
    line too). Supervised, it stops with its parent."""
    die_with_parent(prog)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"{prog}: bad setting: {exc}")
    configure_logging(settings.log_level)
    with startup_errors(prog):
        sys.exit(run(settings))
