"""`check_answers`: what clients were told, held against PostgreSQL — the one copy the fault
tests and the surge checker share, so each broken promise must be caught here."""

from __future__ import annotations

import uuid

from engine.storage.invariants import check_answers
from ops.surge.checker import check
from ops.surge.record import Sample
from tests.helpers import Api


async def test_answers_the_database_bears_out_pass_and_others_are_named(api: Api) -> None:
    event = await api.event(totalTickets=3)
    buyer = await api.account()
    booked = await api.book(buyer, event["id"], 2)
    refused = await api.book(buyer, event["id"], 2)
    assert (booked.status, refused.status) == (201, 409), refused.body
    booking_id, refused_id = booked.body["id"], refused.body["booking"]["id"]
    codes = [t["code"] for t in booked.body["tickets"]]

    honest = await check_answers(api.pool, shown={booking_id: reversed(codes)},
                                 rejected=[refused_id])
    assert honest.ok, honest
    assert str(honest) == "every answer is in the database"

    never_stored = str(uuid.uuid4())
    wrong = await check_answers(api.pool, shown={booking_id: codes[:1]},
                                accepted=[never_stored], rejected=[booking_id])
    assert (wrong.unfinished, wrong.differs, wrong.not_rejected) == (
        [never_stored], [booking_id], [booking_id])
    assert [line[:3] for line in wrong.violations()] == ["I3:", "I2:", "I3:"]
    assert not wrong.ok

    # A 201 the client cancelled since is no longer confirmed: only its existence counts.
    cancelled = await api.call("POST", f"/api/bookings/{booking_id}/cancel", buyer)
    assert cancelled.status == 200
    shown = {booking_id: codes}
    assert (await check_answers(api.pool, shown=shown)).differs == [booking_id]
    assert (await check_answers(api.pool, shown=shown, cancelled={booking_id})).ok


async def test_a_cancel_is_held_to_its_answer(api: Api) -> None:
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    kept, gone = await api.book(buyer, event["id"], 1), await api.book(buyer, event["id"], 1)
    assert (await api.call("POST", f"/api/bookings/{gone.body['id']}/cancel", buyer)).status \
        == 200
    shown = {r.body["id"]: [t["code"] for t in r.body["tickets"]] for r in (kept, gone)}
    # Told 200: it must be cancelled. Told nothing certain (202, no answer): either will do.
    # Told 503 ("not done"), or never asked: it must still stand.
    assert (await check_answers(api.pool, shown=shown, cancelled={gone.body["id"]})).ok
    assert (await check_answers(api.pool, shown=shown,
                                cancel_unknown={kept.body["id"], gone.body["id"]})).ok
    wrong = await check_answers(api.pool, shown=shown, cancelled={kept.body["id"]})
    assert sorted(wrong.differs) == sorted([kept.body["id"], gone.body["id"]])


async def test_a_201_the_database_does_not_bear_out_comes_with_its_evidence(api: Api) -> None:
    event = await api.event(totalTickets=3)
    buyer = await api.account()
    booked = await api.book(buyer, event["id"], 1, key="k-evidence")
    assert booked.status == 201, booked.body
    booking_id = booked.body["id"]
    # The client was shown a code the booking never had: the verdict names the booking, its
    # stored row and every request about it (the first attempt, and its resend).
    samples = [Sample("book", 0, 0.0, 10_000.0, None, 1, "TimeoutError", (), "k-evidence",
                      final=False),
               Sample("book", 201, 10.2, 35.0, booking_id, 1, None, ("TW-NOTREAL",),
                      "k-evidence", "confirmed", gateway=1, attempt=1)]
    verdict = await check(api.pool, [event["id"]], samples, settle_seconds=0)
    evidence = [v for v in verdict.violations if v.startswith("I2 evidence")]
    assert verdict.lost == 1 and len(evidence) == 1, verdict.violations
    code = booked.body["tickets"][0]["code"]
    assert "stored confirmed/None" in evidence[0] and code in evidence[0], evidence
    assert "key k-evidence" in evidence[0], evidence
    assert "book#0@gw0" in evidence[0] and "book#1@gw1" in evidence[0], evidence
    assert "-> 201 confirmed ['TW-NOTREAL'] final" in evidence[0], evidence


async def test_a_request_left_unanswered_comes_with_every_attempt_it_made(api: Api) -> None:
    # A cluster run ended once with "1 unanswered" and nothing to go on: the verdict now
    # says which request it was and what each of its attempts met, gateway by gateway.
    event = await api.event(totalTickets=3)
    samples = [Sample("book", 503, 1.0, 40.0, None, 1, "service_unavailable", (), "k-silent",
                      final=False),
               Sample("book", 0, 1.3, 10_000.0, None, 1, "TimeoutError", (), "k-silent",
                      gateway=1, attempt=1),
               Sample("book", 0, 2.0, 5.0, None, 1, "TimeoutError", (), "k-other")]
    verdict = await check(api.pool, [event["id"]], samples, settle_seconds=0)
    assert (verdict.unanswered, verdict.clean) == (2, False)
    line, other = verdict.unanswered_evidence
    assert line.startswith("unanswered book key k-silent"), line
    assert "#0@gw0 t=1.00s+40ms -> 503 service_unavailable" in line, line
    assert "#1@gw1 t=1.30s+10000ms -> 0 TimeoutError" in line, line
    assert "k-other" not in line and other.startswith("unanswered book key k-other"), other
