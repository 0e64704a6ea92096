"""Ticket War Engine core: domain, actor runtime, transports, storage. No HTTP."""
