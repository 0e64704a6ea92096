"""The OpenAPI 3.1 document (`/api/openapi.json`), which Swagger UI shows at `/api/docs`.

The operations are written out by hand beside the routes they describe (a test checks every
route of the app is documented and every documented path exists); the request bodies and
parameters are generated from the models that validate them (`gateway/schemas.py`), so the
document cannot drift from what the gateway accepts.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiohttp import web

from engine.errors import EngineError, StartupError
from engine.payments.webhooks import SIGNATURE_TOLERANCE_SECONDS
from gateway.answers import ANSWERS
from gateway.errors import status_for
from gateway.jsonschema import component_schemas, parameters
from gateway.responses import json_response
from gateway.schemas import (
    ActionPath,
    BookHeaders,
    BookingPath,
    BookInput,
    CheckinInput,
    EventHeaders,
    EventInput,
    EventPage,
    EventPatch,
    EventPath,
    FakeActionInput,
    Login,
    PayInput,
    QueuePath,
    Register,
    StaffInput,
    StaffPath,
    WaitlistInput,
    WebhookInput,
)

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _answer(description: str, schema: dict[str, Any] | None = None,
            headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {JSON: {"schema": schema}}
    if headers:
        out["headers"] = headers
    return out


_ERROR = _answer("error", _ref("Error"))
_RETRY = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]


def _outcome_unknown(which: str = "") -> dict[str, Any]:
    """The answer of a write whose COMMIT was in flight when the database stopped answering
    (`which`: whose writes, where not every strategy's)."""
    return _answer(f"outcome_unknown{which}: the database stopped answering while the "
                   "change was committing; it may have been made — read it back, or retry "
                   "with the same Idempotency-Key", _ref("Error"))


_OUTCOME_UNKNOWN = _outcome_unknown()
#: Under `queued` the shard actors write these, never the gateway itself.
_LOCKED_OUTCOME_UNKNOWN = _outcome_unknown(" (under the `locked` and `naive` strategies only,"
                                           " whose transaction is the gateway's own)")
_SIGNED: list[dict[str, list[str]]] = [{"webhookSignature": []}]
_EVENT_ID = parameters(EventPath, "path")
_BOOKING_ID = parameters(BookingPath, "path")

#: Request bodies and answers: generated from the models that validate them.
_SCHEMAS = component_schemas([*ANSWERS.values(), Register, Login, EventInput, EventPatch,
                              BookInput, PayInput, StaffInput, CheckinInput, WaitlistInput,
                              WebhookInput, FakeActionInput])

_PATHS: dict[str, Any] = {
    "/api/auth/register": {"post": {
        "summary": "Create a USER account", "requestBody": _body(_ref("Register")),
        "responses": {"201": _answer("created", _ref("User")), "409": _ERROR, "422": _ERROR,
                      "429": _answer("rate limited", _ref("Error"), _RETRY),
                      "504": _OUTCOME_UNKNOWN}}},
    "/api/auth/login": {"post": {
        "summary": "Exchange credentials for a bearer token",
        "requestBody": _body(_ref("Login")),
        "responses": {"200": _answer("signed in", _ref("Token")), "401": _ERROR,
                      "429": _answer("rate limited", _ref("Error"), _RETRY)}}},
    "/api/auth/logout": {"post": {
        "summary": "Sign out this token (this session only); other gateways refuse it within "
                   "seconds",
        "security": _AUTH,
        "responses": {"204": {"description": "signed out"}, "401": _ERROR,
                      "429": _answer("rate limited", _ref("Error"), _RETRY),
                      "504": _OUTCOME_UNKNOWN}}},
    "/api/auth/logout-all": {"post": {
        "summary": "Sign out every token of the caller, on every device",
        "security": _AUTH,
        "responses": {"204": {"description": "signed out everywhere"}, "401": _ERROR,
                      "429": _answer("rate limited", _ref("Error"), _RETRY),
                      "504": _OUTCOME_UNKNOWN}}},
    "/api/events": {
        "get": {"summary": "Events with live seats left",
                "parameters": parameters(EventPage, "query"),
            "responses": {"200": _answer("events", {"type": "array", "items": _ref("Event")})}},
        "post": {"summary": "Create an event (VENDOR, ADMIN)", "security": _AUTH,
                 "parameters": parameters(EventHeaders, "header"),
                 "requestBody": _body(_ref("EventInput")),
                 "responses": {"201": _answer("created (or, for a key used before, the event "
                                              "it created)", _ref("Event")),
                               "401": _ERROR, "403": _ERROR,
                               "422": _answer("invalid input, or idempotency_key_reused",
                                              _ref("Error")),
                               "503": _answer("not done: the database unavailable",
                                              _ref("Error"), _RETRY),
                               "504": _OUTCOME_UNKNOWN}}},
    "/api/events/{event_id}": {
        "get": {"summary": "One event (its vendor and ADMINs also see `checkedIn`)",
                "parameters": _EVENT_ID,
                "responses": {"200": _answer("event", _ref("Event")), "404": _ERROR}},
        "patch": {"summary": "Edit an event (its vendor, ADMIN)", "security": _AUTH,
                  "parameters": _EVENT_ID, "requestBody": _body(_ref("EventPatch")),
                  "responses": {"200": _answer("edited", _ref("Event")), "403": _ERROR,
                                "404": _ERROR, "422": _ERROR, "504": _OUTCOME_UNKNOWN,
                                "409": _answer("capacity_below_sold / event_cancelled",
                                               _ref("Rejection"))}}},
    "/api/events/{event_id}/cancel": {"post": {
        "summary": "Cancel the whole event (its vendor, ADMIN): decided in order with its "
                   "bookings (by its shard actor, or under `locked` and `naive` in one "
                   "transaction under its row lock); every booking void, holds and offers "
                   "released, the waiting list closed, every paid booking refunded through the "
                   "provider (see each booking's `refund`). Cancelling it again answers it",
        "security": _AUTH, "parameters": _EVENT_ID,
        "responses": {
            "200": _answer("cancelled (`status: cancelled`, `cancelledAt`)", _ref("Event")),
            "202": _answer("its actor has not answered yet: decided anyway, once; read the "
                           "event", {"type": "object"},
                           {"Location": {"schema": {"type": "string"}}}),
            "403": _ERROR, "404": _ERROR,
            "409": _answer("checked_in (a ticket was checked in: the event is under way)",
                           _ref("Rejection")),
            "504": _LOCKED_OUTCOME_UNKNOWN}}},
    "/api/events/{event_id}/book": {"post": {
        "summary": "Book seats", "security": _AUTH, "parameters":
            _EVENT_ID + parameters(BookHeaders, "header"),
        "requestBody": {"required": False, "content": {JSON: {"schema": _ref("BookInput")}}},
        "responses": {
            "201": _answer("confirmed (free event) or held until paid (paid event: status "
                           "`held`, `expiresAt`, `amountCents`, `currency`)", _ref("Booking")),
            "202": _answer("accepted, decision pending", _ref("Booking"), {
                "Location": {"schema": {"type": "string"}}}),
            "403": _answer("the event has a waiting room: admission_required (no admission) "
                           "/ admission_expired (its window is over); `queueUrl` says where "
                           "to join. An accepted booking uses the admission up; a 409 or 422 "
                           "leaves it open", _ref("Rejection")),
            "404": _answer("no such event", _ref("Rejection")),
            "409": _answer("sold out / not on sale / event_cancelled / "
                           "waiting_room_needs_queued", _ref("Rejection")),
            "422": _answer("over the per-user limit / bad input", _ref("Rejection")),
            "429": _answer("rate limited", _ref("Error"), _RETRY),
            "503": _answer("broker or database unavailable", _ref("Error"), _RETRY),
            "504": _LOCKED_OUTCOME_UNKNOWN}}},
    "/api/events/{event_id}/staff": {
        "post": {"summary": "Make an account door staff of this event (its vendor, ADMIN): "
                            "it may check tickets in here; its role does not change",
                 "security": _AUTH, "parameters": _EVENT_ID,
                 "requestBody": _body(_ref("StaffInput")),
                 "responses": {"201": _answer("granted", _ref("StaffMember")),
                               "200": _answer("staff already", _ref("StaffMember")),
                               "403": _ERROR,
                               "404": _answer("no such event / unknown_user", _ref("Error")),
                               "422": _ERROR, "504": _OUTCOME_UNKNOWN}},
        "get": {"summary": "The event's door staff (its vendor, ADMIN)", "security": _AUTH,
                "parameters": _EVENT_ID,
                "responses": {"200": _answer("staff", {"type": "array",
                                                       "items": _ref("StaffMember")}),
                              "403": _ERROR, "404": _ERROR}}},
    "/api/events/{event_id}/staff/{user_id}": {"delete": {
        "summary": "Revoke an account's check-in rights for this event (its vendor, ADMIN)",
        "security": _AUTH, "parameters": parameters(StaffPath, "path"),
        "responses": {"204": {"description": "revoked"}, "403": _ERROR,
                      "404": _answer("no such event, or not its staff", _ref("Error")),
                      "504": _OUTCOME_UNKNOWN}}},
    "/api/events/{event_id}/checkin": {"post": {
        "summary": "Check a ticket in at the door (the event's vendor, its staff, ADMIN); "
                   "decided by the event's shard actor, in order with its cancels",
        "security": _AUTH, "parameters": _EVENT_ID,
        "requestBody": _body(_ref("CheckinInput")),
        "responses": {
            "200": _answer("checked in, now", _ref("CheckIn")),
            "403": _ERROR,
            "404": _answer("no such event / unknown_ticket (also a code of another event)",
                           _ref("Error")),
            "409": _answer("already_checked_in (`checkedInAt`: the first time) / ticket_void "
                           "(cancelled or expired booking); both carry the `ticket`",
                           _ref("Error")),
            "422": _ERROR,
            "503": _answer("not decided in time: retry (a ticket this attempt checked in "
                           "then answers already_checked_in)", _ref("Error"), _RETRY)}}},
    "/api/bookings/{booking_id}": {"get": {
        "summary": "A booking (its owner only)", "security": _AUTH,
        "parameters": _BOOKING_ID,
        "responses": {"200": _answer("booking", _ref("Booking")), "404": _ERROR}}},
    "/api/bookings/{booking_id}/cancel": {"post": {
        "summary": "Cancel a confirmed or held booking; seats go back on sale at once. A "
                   "confirmed paid booking is refunded in full through the provider "
                   "(`refund`), within the event's `refundableUntil` only",
        "security": _AUTH, "parameters": _BOOKING_ID,
        "responses": {"200": _answer("cancelled (a paid one with its `refund`)",
                                     _ref("Booking")), "404": _ERROR,
                      "409": _answer("not_cancellable / checked_in (a ticket of it was "
                                     "checked in at the door) / refund_window_closed (paid, "
                                     "and past `refundableUntil` or the event sets none)",
                                     _ref("Error")), "504": _LOCKED_OUTCOME_UNKNOWN}}},
    "/api/bookings/{booking_id}/extend": {"post": {
        "summary": "More time on a held booking or offer (its owner only), once (WCAG 2.2.1): "
                   "its deadline moves by the event's holdSeconds, at most 10 minutes. The "
                   "buyer is warned at the booking's `warnAt` (a `booking` stream event with "
                   "`warning: true` and an email): 60 s before a deadline, or halfway through "
                   "a hold shorter than two minutes",
        "security": _AUTH, "parameters": _BOOKING_ID,
        "responses": {
            "200": _answer("extended: the hold with its new `expiresAt`", _ref("Booking")),
            "202": _answer("not decided within the wait: read the booking", _ref("Booking"),
                           {"Location": {"schema": {"type": "string"}}}),
            "404": _ERROR,
            "409": _answer("already_extended / hold_expired / not_extendable (not held)",
                           _ref("Error"))}}},
    "/api/bookings/{booking_id}/pay": {"post": {
        "summary": "Pay a held booking (its owner only); at most one successful charge per "
                   "booking, whatever keys are sent",
        "security": _AUTH, "parameters": _BOOKING_ID + parameters(BookHeaders, "header"),
        "requestBody": _body(_ref("PayInput")),
        "responses": {
            "200": _answer("paid: confirmed, with tickets", _ref("Booking")),
            "202": _answer("the provider has not answered yet (`payment: pending`), or asks "
                           "the buyer for an extra step (`payment: requires_action`, 3-D "
                           "Secure, at `nextAction.url`; the hold and the attempt stay open, "
                           "and a pay with the same key, or none, answers the same step; a "
                           "new key is another card: the step is cancelled at the provider "
                           "first, and only then is the new card charged — a step that "
                           "succeeded first is answered instead, and a cancel the provider "
                           "did not answer is `pending` with nothing charged); the result "
                           "comes on the stream and to a retry with the same key",
                           _ref("Booking"), {"Location": {"schema": {"type": "string"}}}),
            "402": _answer("payment_declined (a customer step failed too): the hold stays",
                           _ref("Error")),
            "404": _ERROR,
            "409": _answer("hold_expired / not_payable", _ref("Error")),
            "422": _ERROR,
            "429": _answer("rate limited", _ref("Error"), _RETRY),
            "504": _answer("outcome_unknown: the answer to recording the attempt was lost, "
                           "so nothing was charged; a retry with the same key finds the "
                           "attempt (`pending`) and charges nothing new", _ref("Error"))}}},
    "/api/events/{event_id}/waitlist": {
        "post": {
            "summary": "Join a sold-out event's waiting list: returned seats are offered to "
                       "the first entry whose quantity fits, as a held booking (`offer: true`) "
                       "with its own `expiresAt`, pushed as a `booking` stream event",
            "security": _AUTH, "parameters": _EVENT_ID,
            "requestBody": {"required": False,
                            "content": {JSON: {"schema": _ref("WaitlistInput")}}},
            "responses": {
                "201": _answer("joined, with its position (1 is next)", _ref("WaitlistEntry")),
                "200": _answer("joined already: the same entry (or its open offer, status "
                               "`offered`)", _ref("WaitlistEntry")),
                "202": _answer("accepted, decision pending", _ref("WaitlistEntry"), {
                    "Location": {"schema": {"type": "string"}}}),
                "404": _answer("no such event", _ref("Rejection")),
                "409": _answer("not_sold_out (book instead) / waitlist_closed / not_on_sale "
                               "/ waitlist_needs_queued", _ref("Rejection")),
                "422": _answer("over the per-user limit (waiting seats count) / bad input",
                               _ref("Rejection")),
                "429": _answer("rate limited", _ref("Error"), _RETRY),
                "503": _answer("broker or database unavailable", _ref("Error"), _RETRY)}},
        "delete": {
            "summary": "Leave an event's waiting list", "security": _AUTH,
            "parameters": _EVENT_ID,
            "responses": {
                "200": _answer("left (status `left`)", _ref("WaitlistEntry")),
                "202": _answer("accepted, decision pending", _ref("WaitlistEntry")),
                "404": _answer("no such event / not_waiting", _ref("Rejection")),
                "429": _answer("rate limited", _ref("Error"), _RETRY),
                "503": _answer("broker or database unavailable", _ref("Error"), _RETRY)}}},
    "/api/events/{event_id}/queue": {"post": {
        "summary": "Join an event's waiting room: before `saleStartsAt` the pre-queue "
                   "(shuffled at the opening), after it the back of the line; one active "
                   "entry per account. Changes come as `queue` stream events",
        "security": _AUTH, "parameters": _EVENT_ID,
        "responses": {
            "201": _answer("joined", _ref("QueueEntry")),
            "200": _answer("the account's active entry", _ref("QueueEntry")),
            "202": _answer("accepted, decision pending (`status: pending`): join again "
                           "after `refreshAfterSeconds` (`Location`, this URL) to learn the "
                           "outcome: the entry this join made (200), its refusal, or a new "
                           "entry if it never reached its actor", _ref("QueueEntry"), {
                "Location": {"schema": {"type": "string"}}}),
            "401": _ERROR,
            "404": _answer("no such event", _ref("Rejection")),
            "409": _answer("queue_not_open (before `queueOpensAt`) / queue_closed (sold out) "
                           "/ no_waiting_room / waiting_room_needs_queued", _ref("Rejection")),
            "429": _answer("rate limited (joins count per address)", _ref("Error"), _RETRY),
            "503": _answer("broker or database unavailable", _ref("Error"), _RETRY)}},
        "get": {
            "summary": "The event's waiting room as its vendor or an ADMIN watches it, live: "
                       "the pre-queue and the line, admitted-but-unused buyers, admissions "
                       "in the last minute, seats left (from the gateway's memory)",
            "security": _AUTH, "parameters": _EVENT_ID,
            "responses": {
                "200": _answer("the room now", _ref("QueueView")), "401": _ERROR,
                "403": _ERROR, "404": _answer("no such event", _ref("Rejection")),
                "409": _answer("no_waiting_room / waiting_room_needs_queued",
                               _ref("Rejection"))}}},
    "/api/queue/{queue_id}": {"get": {
        "summary": "A waiting-room entry (its owner only): status, position, estimated wait; "
                   "poll no faster than `refreshAfterSeconds`",
        "security": _AUTH, "parameters": parameters(QueuePath, "path"),
        "responses": {"200": _answer("entry", _ref("QueueEntry")), "401": _ERROR,
                      "404": _ERROR}}},
    "/api/me/waitlist": {"get": {
        "summary": "My waiting-list entries: waiting (with positions) or offered (open)",
        "security": _AUTH,
        "responses": {"200": _answer("entries", {"type": "array",
                                                 "items": _ref("WaitlistEntry")})}}},
    "/api/me/tickets": {"get": {
        "summary": "My tickets", "security": _AUTH,
        "responses": {"200": _answer("tickets", {"type": "array",
                                                 "items": _ref("MyTicket")})}}},
    "/api/me/bookings": {"get": {
        "summary": "My bookings, newest first (at most 200): confirmed, held, expired and "
                   "cancelled ones, the last with their tickets void; refused ones are left out",
        "security": _AUTH,
        "responses": {"200": _answer("bookings", {"type": "array",
                                                  "items": _ref("MyBooking")})}}},
    "/api/stream": {"get": {
        "summary": "Server-Sent Events: `stock` for everyone, `booking` and `queue` (a "
                   "waiting-room entry's status, or its position band, at most once a "
                   "second) for the ticket's (or bearer token's) user",
        "description": "A `stock` frame is `{eventId, availableTickets}`, at most one per "
                       "event every 0.1 s; after a batch of the event's owning actor it "
                       "also has `bookings` and `bookingsEpoch`: bookings taken since the "
                       "actor loaded the event under that epoch, a running count (a rate is "
                       "the rise between frames; under a new epoch it started again at 0).",
        "parameters": [{"name": "ticket", "in": "query", "schema": {"type": "string"},
                        "description": "from `POST /api/stream/ticket`; never put the access "
                                       "token in this URL"}],
        "responses": {"200": {"description": "text/event-stream"}, "401": _ERROR,
                      "503": _answer("too many open streams (overloaded)", _ref("Error"),
                                     _RETRY)}}},
    "/api/stream/ticket": {"post": {
        "summary": "A short-lived ticket (30 s, this user's stream only) to open "
                   "`GET /api/stream?ticket=` with, since EventSource cannot send headers",
        "security": _AUTH,
        "responses": {"200": _answer("ticket", _ref("StreamTicket")), "401": _ERROR}}},
    "/api/payments/webhook": {"post": {
        "summary": "The payment provider's signed event about a charge (for the provider, not "
                   "for buyers): a late `charge.succeeded` confirms its held booking if the "
                   "hold is still open and is refunded if not, `charge.failed` declines the "
                   "attempt (the hold stays), `charge.refunded` records a refund owed as made. "
                   "Each event id is taken once",
        "description": "Authenticated by `Ticketwar-Signature: t=<unix seconds>,v1=<hex "
                       "HMAC-SHA256 of \"<t>.\" + the raw body>` with "
                       "`PAYMENT_WEBHOOK_SECRET` (several `v1` may be sent; one good one is "
                       f"enough), the timestamp within {SIGNATURE_TOLERANCE_SECONDS} s of the "
                       "server's clock. The event "
                       "must agree with the attempt its `idempotencyKey` names. Without a "
                       "secret configured the route takes nothing (`404 "
                       "webhooks_disabled`).",
        "security": _SIGNED, "requestBody": _body(_ref("WebhookInput")),
        "responses": {
            "200": _answer("taken: what the attempt came to (`duplicate: true`: the id was "
                           "taken before, nothing done again)", _ref("WebhookReceipt")),
            "400": _answer("missing_signature / bad_signature / stale_signature / "
                           "malformed_json", _ref("Error")),
            "404": _answer("webhooks_disabled (no PAYMENT_WEBHOOK_SECRET)", _ref("Error")),
            "422": _answer("invalid_input / payment_mismatch (another amount, currency or "
                           "charge than the attempt's): not taken", _ref("Error")),
            "429": _answer("rate limited", _ref("Error"), _RETRY),
            "503": _answer("not done (the database or the broker away): deliver it again",
                           _ref("Error"), _RETRY)}}},
    "/api/fake-provider/actions/{attempt_id}/complete": {"post": {
        "summary": "The fake provider's customer step (3-D Secure) for a `tok_action` charge, "
                   "ended as the buyer would at a real provider's page (served only when "
                   "PAYMENT_PROVIDER is `fake`): `succeeded` takes the money, `failed` "
                   "refuses it. The engine hears it by the fake's signed webhook "
                   "(`FAKE_PAYMENT_WEBHOOK_URL`), by the buyer's pay sent again with its "
                   "key, or by recovery's lookup, and settles the "
                   "booking by its own rules: confirmed while the hold is open, refunded "
                   "once it is over, declined (the hold stays) on `failed`",
        "parameters": parameters(ActionPath, "path"),
        "requestBody": _body(_ref("FakeActionInput")),
        "responses": {
            "200": _answer("the step ended: the charge at the fake now",
                           _ref("FakeActionResult")),
            "404": _answer("no such charge at the fake provider", _ref("Error")),
            "409": _answer("action_not_pending: its step ended already, or the engine "
                           "cancelled it (another card, or its hold ended)", _ref("Error")),
            "422": _ERROR,
            "429": _answer("rate limited", _ref("Error"), _RETRY)}}},
    "/api/config": {"get": {"summary": "How this engine is set up, as a client needs it: "
                                       "`paymentProvider` (`fake`: the test tokens `tok_ok`, "
                                       "`tok_declined`, `tok_action`, `tok_timeout` charge and "
                                       "no money moves)",
                            "responses": {"200": _answer("configuration", _ref("Config")),
                                          "429": _answer("rate limited", _ref("Error"), _RETRY)}}},
    "/api/health": {"get": {"summary": "Database and broker reachable (probed at most once "
                                       "per HEALTH_CACHE_SECONDS)",
                            "responses": {"200": {"description": "healthy"},
                                          "429": _answer("rate limited", _ref("Error"), _RETRY),
                                          "503": {"description": "degraded"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics (text format) for operators, served "
                                    "only to the addresses METRICS_ALLOWED lists",
                         "responses": {"200": {"description": "text/plain"}, "403": _ERROR}}},
    "/api/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    "/api/docs": {"get": {"summary": "Swagger UI",
                          "responses": {"200": {"description": "HTML"}}}},
}


#: Codes the error middleware answers without an engine error class behind them.
_HTTP_ONLY = {"http_error": (400, "A refusal of the HTTP layer that no engine error names "
                                 "(the status says which)."),
              "internal_error": (500, "An unexpected failure on the server's side.")}


def error_catalog() -> dict[str, dict[str, Any]]:
    """Every stable error code with its HTTP status and meaning, read off the error tree
    (each class's status and docstring), so the document cannot drift from the code."""
    catalog = {code: {"status": status, "description": text}
               for code, (status, text) in _HTTP_ONLY.items()}
    stack: list[type[EngineError]] = [EngineError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # Only engine.errors: a subclass elsewhere (the broker's TopologyError) stops a
        # process at start-up, never answers a request, and is seen only once its module
        # is imported, which would make this document depend on import order. Left out too:
        # start-up errors, and the internal ones that only ever surface as internal_error.
        if ("code" in vars(cls) and cls.__module__ == EngineError.__module__
                and not issubclass(cls, StartupError) and status_for(cls) != 500):
            summary = inspect.cleandoc(cls.__doc__ or cls.code).split("\n\n")[0]
            catalog[cls.code] = {"status": status_for(cls),
                                 "description": " ".join(summary.split())}
    return dict(sorted(catalog.items()))


def error_codes() -> list[str]:
    """Every stable error code the engine can answer with."""
    return list(error_catalog())


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    schemas = dict(_SCHEMAS)
    schemas["Error"] = {**_SCHEMAS["Error"], "properties": {
        **_SCHEMAS["Error"]["properties"], "error": {
            "enum": error_codes(), "description": "stable machine code",
            "x-codes": error_catalog()}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ticket War Engine", "version": "1",
                 "description": "Sell a fixed stock of seats to a surge of buyers, never twice."},
        "paths": _with_default_answer(_PATHS),
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "webhookSignature": {"type": "apiKey", "in": "header",
                                 "name": "Ticketwar-Signature",
                                 "description": "t=<unix seconds>,v1=<hex HMAC-SHA256>"}}},
    }


def _with_default_answer(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation also answers `default`: any status not listed — a malformed body (400),
    a bad token (401, on every route), a body too large or slow (413, 408), the wrong method
    (405), capacity (503) — comes in the one error shape, with its code in the catalog."""
    out: dict[str, Any] = {}
    for path, operations in paths.items():
        out[path] = {method: {**op, "responses": {**op["responses"], "default": _answer(
            "any other refusal, in the error shape (see the codes)", _ref("Error"))}}
            for method, op in operations.items()}
    return out


async def openapi_json(request: web.Request) -> web.Response:
    """Serve the document."""
    return json_response(document())


def add_routes(app: web.Application) -> None:
    """Mount the document. Its reader, Swagger UI at `/api/docs`, is a page of the web UI's
    build (`gateway.webui`)."""
    app.router.add_get("/api/openapi.json", openapi_json)
