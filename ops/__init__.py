"""Operator tooling: the `ticketwar` command, surge scenarios, service scripts."""
