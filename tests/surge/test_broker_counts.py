"""Broker messages per request, read the way the bench reads them."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from ops.surge.broker_counts import parse, per_request, scrape

PAGE = """\
# HELP ticketwar_amqp_messages_total AMQP messages
# TYPE ticketwar_amqp_messages_total counter
ticketwar_amqp_messages_total{direction="published",kind="commands"} 40.0
ticketwar_amqp_messages_total{direction="delivered",kind="outcomes"} 10.0
ticketwar_amqp_messages_created{direction="published",kind="commands"} 1.7e9
# HELP ticketwar_amqp_commands_total AMQP commands
# TYPE ticketwar_amqp_commands_total counter
ticketwar_amqp_commands_total{direction="published"} 100.0
# HELP ticketwar_booking_requests_total other
# TYPE ticketwar_booking_requests_total counter
ticketwar_booking_requests_total{strategy="queued",outcome="confirmed"} 3.0
"""


def test_the_counters_are_read_and_divided_per_request() -> None:
    counts = parse(PAGE)
    assert counts == {("ticketwar_amqp_messages", "published", "commands"): 40.0,
                      ("ticketwar_amqp_messages", "delivered", "outcomes"): 10.0,
                      ("ticketwar_amqp_commands", "published", ""): 100.0}
    assert per_request(counts, 100) == {
        "messages": {"delivered": {"outcomes": 0.1}, "published": {"commands": 0.4}},
        "commands": {"published": 1.0}}


async def test_processes_are_summed_and_absent_counters_say_none() -> None:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=PAGE if request.path == "/a" else "# nothing\n")

    app = web.Application()
    app.router.add_get("/{name}", metrics)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        both = await scrape([f"{url}/a", f"{url}/a", "http://127.0.0.1:1/metrics"])
        none = await scrape([f"{url}/b"])
    assert both[("ticketwar_amqp_commands", "published", "")] == 200.0
    assert per_request(none, 100) is None
