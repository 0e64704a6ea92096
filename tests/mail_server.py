"""A real SMTP server on localhost for the notification tests: aiosmtpd in a thread of its
own, recording what it accepts (parsed as a mail server sees it off the wire), refusing a
recipient's messages with the replies a test scripts, and holding a recipient's messages
before it answers (to catch a sender between the server's acceptance and its own commit)."""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers import free_port


class MailServer:
    """What the server accepted, and what it is told to do."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._received: list[EmailMessage] = []
        #: Recipient -> replies to give its next messages instead of accepting them.
        self._scripts: dict[str, list[str]] = {}
        #: Recipient -> (accepted, release): set when one is received, awaited before 250.
        self._holds: dict[str, tuple[threading.Event, threading.Event]] = {}
        self.refused: list[tuple[str, str]] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        """The `SMTP_URL` of this server."""
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (returns once the server answers)."""
        self._controller.start()

    def stop(self) -> None:
        """Release every held message, then stop."""
        with self._lock:
            for _, release in self._holds.values():
                release.set()
        self._controller.stop()

    def refuse(self, recipient: str, *replies: str) -> None:
        """Answer the recipient's next messages with these replies, one each, in order."""
        with self._lock:
            self._scripts.setdefault(recipient, []).extend(replies)

    def hold(self, recipient: str) -> tuple[threading.Event, threading.Event]:
        """Receive the recipient's next messages but answer only once `release` is set;
        `accepted` is set when one arrives."""
        pair = (threading.Event(), threading.Event())
        with self._lock:
            self._holds[recipient] = pair
        return pair

    def to(self, recipient: str) -> list[EmailMessage]:
        """The messages received for this recipient, in order."""
        with self._lock:
            return [m for m in self._received
                    if email.utils.parseaddr(str(m["To"]))[1] == recipient]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """aiosmtpd's hook for a message's content."""
        recipient = envelope.rcpt_tos[0]
        with self._lock:
            script = self._scripts.get(recipient)
            if script:
                reply = script.pop(0)
                self.refused.append((recipient, reply))
                return reply
            message = email.message_from_bytes(envelope.content, policy=default)
            assert isinstance(message, EmailMessage)
            self._received.append(message)
            hold = self._holds.get(recipient)
        if hold is not None:
            accepted, release = hold
            accepted.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait)
        return "250 OK"


@contextmanager
def running_mail_server() -> Iterator[MailServer]:
    """A started server, stopped afterwards."""
    server = MailServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
