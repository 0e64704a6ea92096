"""The box `ticketwar run` prints last, once it serves: where to open it, and the demo logins.

ASCII only, so every terminal (and a CI log) shows it as drawn.
"""

from __future__ import annotations


def box(lines: list[str]) -> str:
    """`lines` framed, padded to the longest one."""
    width = max(len(line) for line in lines)
    border = "+" + "-" * (width + 4) + "+"
    return "\n".join([border, *(f"|  {line:<{width}}  |" for line in lines), border])


def browser_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server listening on host:port."""
    # A wildcard address is where the server listens, not somewhere a browser can go.
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
