"""Notifications by email: the `Notifier` protocol and its implementations (`log`, `smtp`),
the registry that picks one from the settings, the emails' templates, and the sender that
drains the outbox (migration 0011) through a notifier. docs/design.md, "Notifications"."""
