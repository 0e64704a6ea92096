"""The `smtp` notifier: hands each email to an SMTP server (`SMTP_URL`) with aiosmtplib.

`smtp://[user[:password]@]host[:port]` (port 25 by default; STARTTLS when the server offers
it, and the password is only sent after it) or `smtps://…` (TLS from the first byte, port
465). One connection per message: a relay is usually next door, and a message never waits
behind another's broken connection.

Which failures are the message's: a refusal of its sender, recipient or content with a 5xx
reply is permanent (`PermanentFailure`: sending it again would be refused again). Anything
else — a 4xx reply, the server unreachable or slow, a refused login, TLS that fails — says
nothing about the message, so it is transient and the sender tries again later: a
misconfigured relay must not mark every email failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from engine.notify.notifier import PermanentFailure, TransientFailure
from engine.settings import SettingsError

#: Seconds for each step of the conversation (connect, each command).
TIMEOUT_SECONDS = 30.0

#: Refusals that are about the message itself; their 5xx replies are permanent.
_MESSAGE_REFUSALS = (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPRecipientRefused,
                     aiosmtplib.SMTPDataError)


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to reach the SMTP server."""

    host: str
    port: int
    use_tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """An `SMTP_URL`; `SettingsError` when it is not one."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SettingsError("SMTP_URL must look like smtp://host:port or smtps://host")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
        except ValueError as exc:
            raise SettingsError(f"SMTP_URL: {exc}") from None
        return cls(parts.hostname, port, parts.scheme == "smtps",
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


class SmtpNotifier:
    """Sends through an SMTP server."""

    name = "smtp"

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def send(self, message: EmailMessage) -> None:
        """Send one message; its failures sorted into transient and permanent."""
        s = self._server
        try:
            await aiosmtplib.send(message, hostname=s.host, port=s.port, use_tls=s.use_tls,
                                  username=s.username, password=s.password,
                                  timeout=TIMEOUT_SECONDS)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            _raise_for([(r.code, r.message) for r in exc.recipients])
        except _MESSAGE_REFUSALS as exc:
            _raise_for([(exc.code, exc.message)])
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection, login, TLS or timeout: nothing wrong with the message.
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """No connection outlives a message."""


def _raise_for(replies: list[tuple[int, str]]) -> None:
    """Permanent when every reply is a 5xx, transient otherwise."""
    reason = "; ".join(f"{code} {text}".strip() for code, text in replies)
    if replies and all(code >= 500 for code, _ in replies):
        raise PermanentFailure(reason)
    raise TransientFailure(reason)
