"""The notifier the settings name (`NOTIFIER`, or `smtp` when `SMTP_URL` is set, else `log`),
imported lazily: the default never imports an SMTP client."""

from __future__ import annotations

from engine.notify.notifier import Notifier
from engine.settings import Settings

#: Notifiers by name.
NOTIFIERS = ("log", "smtp")


def notifier_name(settings: Settings) -> str:
    """The notifier these settings pick."""
    return settings.notifier or ("smtp" if settings.smtp_url is not None else "log")


def create_notifier(settings: Settings) -> Notifier:
    """The notifier these settings pick; `SettingsError` for an unusable SMTP_URL."""
    if notifier_name(settings) == "smtp":
        from engine.notify.smtp import SmtpNotifier, SmtpServer

        assert settings.smtp_url is not None  # Settings refuses NOTIFIER=smtp without it
        return SmtpNotifier(SmtpServer.parse(settings.smtp_url.reveal()))
    from engine.notify.log import LogNotifier

    return LogNotifier()
