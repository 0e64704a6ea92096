"""The `log` notifier, the default when no SMTP server is configured: each email is written
to the log (the headers at INFO, the body at DEBUG) instead of being sent, so a demo or a
test run shows what its buyers would have received."""

from __future__ import annotations

import logging
from email.message import EmailMessage

log = logging.getLogger(__name__)


class LogNotifier:
    """Writes what it would send to the log; never fails."""

    name = "log"

    async def send(self, message: EmailMessage) -> None:
        """Log the message."""
        log.info("email %s to %s: %s", message["Message-ID"], message["To"],
                 message["Subject"])
        if log.isEnabledFor(logging.DEBUG):  # the body is costly to render for nothing
            log.debug("%s", message.get_content())

    async def close(self) -> None:
        """Nothing to close."""
