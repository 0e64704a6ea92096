// The booking state machine (runBooking) against a scripted server, stream and clock: every
// path from a click to a final answer, and what the buyer sees on the way.
import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import type { Booking } from "./api";
import { BookingUpdates, MAX_RETRIES, POLL_LIMIT_MS, POLL_MS, runBooking } from "./booking";
import type { Attempt, BookingDeps } from "./booking";

const ticket = { id: "t1", code: "TW-AAAA", void: false };
const booking = (status: Booking["status"], extra: Partial<Booking> = {}): Booking => ({
  id: "b1", eventId: 7, quantity: 2, status, tickets: [], ...extra,
});

/** A fake world: `send` answers in turn from `answers`, reads from `reads`; time moves only
 *  when the machine pauses. */
function world(answers: (() => { status: number; data: Booking })[],
  reads: (() => Booking)[] = []) {
  const phases: Attempt[] = [];
  const sent: { quantity: number; key: string }[] = [];
  const paused: number[] = [];
  const updates = new BookingUpdates();
  let clock = 0;
  let keys = 0;
  const deps: BookingDeps = {
    send: async (quantity, key) => {
      sent.push({ quantity, key });
      const next = answers.shift();
      if (!next) throw new Error("no more answers");
      return next();
    },
    read: async () => {
      const next = reads.shift();
      if (!next) throw new ApiError(0, "network_error", "down");
      return next();
    },
    listen: (id, listener) => updates.wait(id, listener),
    pause: async (ms) => {
      paused.push(ms);
      clock += ms;
    },
    now: () => clock,
    key: () => `key-${++keys}`,
  };
  return { deps, phases, sent, paused, updates, report: (a: Attempt) => phases.push(a) };
}

const refuse = (status: number, code: string, retryAfter: number | null = null) => () => {
  throw new ApiError(status, code, code, retryAfter);
};

describe("runBooking", () => {
  it("confirms at once with the tickets of a 201", async () => {
    const w = world([() => ({ status: 201, data: booking("confirmed", { tickets: [ticket] }) })]);
    await runBooking(w.deps, 2, w.report);
    expect(w.phases.map((p) => p.phase)).toEqual(["sending", "confirmed"]);
    expect(w.sent).toEqual([{ quantity: 2, key: "key-1" }]);
  });

  it("holds a paid event's seats for payment, not refused", async () => {
    const held = booking("held", { expiresAt: "2099-01-01T00:05:00Z", amountCents: 1250, currency: "EUR" });
    const w = world([() => ({ status: 201, data: held })]);
    await runBooking(w.deps, 2, w.report);
    expect(w.phases).toEqual([{ phase: "sending", retry: 0 }, { phase: "held", booking: held }]);
  });

  it("refuses with the server's code and the quantity asked", async () => {
    const w = world([refuse(409, "sold_out")]);
    await runBooking(w.deps, 3, w.report);
    const last = w.phases.at(-1)!;
    expect(last.phase).toBe("refused");
    if (last.phase === "refused") expect([last.error.code, last.quantity]).toEqual(["sold_out", 3]);
  });

  it("retries a 503 with the same key, waiting as Retry-After says, then books", async () => {
    const w = world([refuse(503, "unavailable", 4), refuse(0, "network_error"),
      () => ({ status: 201, data: booking("confirmed", { tickets: [ticket] }) })]);
    await runBooking(w.deps, 1, w.report);
    expect(w.phases.map((p) => p.phase)).toEqual(
      ["sending", "retrying", "sending", "retrying", "sending", "confirmed"]);
    expect(w.sent.map((s) => s.key)).toEqual(["key-1", "key-1", "key-1"]);
    expect(w.paused).toEqual([4000, 2000]); // Retry-After, then 2^1 s
  });

  it("retries a 504 outcome_unknown with the same key: the retry hears what was decided", async () => {
    const w = world([refuse(504, "outcome_unknown"),
      () => ({ status: 201, data: booking("confirmed", { tickets: [ticket] }) })]);
    await runBooking(w.deps, 1, w.report);
    expect(w.phases.map((p) => p.phase)).toEqual(["sending", "retrying", "sending", "confirmed"]);
    expect(w.sent.map((s) => s.key)).toEqual(["key-1", "key-1"]);
  });

  it(`gives up after ${MAX_RETRIES} retries and says why`, async () => {
    const w = world(Array.from({ length: MAX_RETRIES + 1 }, () => refuse(503, "overloaded")));
    await runBooking(w.deps, 1, w.report);
    expect(w.sent).toHaveLength(MAX_RETRIES + 1);
    const last = w.phases.at(-1)!;
    expect(last.phase === "refused" && last.error.code).toBe("overloaded");
  });

  it("does not retry a definite refusal", async () => {
    const w = world([refuse(422, "limit_exceeded")]);
    await runBooking(w.deps, 1, w.report);
    expect(w.sent).toHaveLength(1);
  });

  it("queues a 202, takes the stream's outcome and reads the ticket codes", async () => {
    const w = world([() => ({ status: 202, data: booking("pending") })],
      [() => booking("confirmed", { tickets: [ticket] })]);
    // The push arrives while the machine waits for its first poll.
    w.deps.pause = async (ms) => {
      w.paused.push(ms);
      w.updates.deliver(booking("confirmed"));
    };
    await runBooking(w.deps, 2, w.report);
    await Promise.resolve();
    await Promise.resolve();
    expect(w.phases.map((p) => p.phase)).toEqual(["sending", "queued", "confirmed", "confirmed"]);
    const last = w.phases.at(-1)!;
    expect(last.phase === "confirmed" && last.booking.tickets).toEqual([ticket]);
  });

  it("polls a queued booking whose push is lost, through failed polls", async () => {
    const w = world([() => ({ status: 202, data: booking("pending") })], [
      () => { throw new ApiError(0, "network_error", "down"); },
      () => booking("pending"),
      () => booking("rejected", { reason: "sold_out" }),
    ]);
    await runBooking(w.deps, 2, w.report);
    expect(w.paused).toEqual([POLL_MS, POLL_MS, POLL_MS]);
    const last = w.phases.at(-1)!;
    expect(last.phase === "refused" && last.error.code).toBe("sold_out");
  });

  it("stops polling at its time limit, still queued", async () => {
    const reads = Array.from({ length: 1000 }, () => () => booking("pending"));
    const w = world([() => ({ status: 202, data: booking("pending") })], reads);
    await runBooking(w.deps, 1, w.report);
    expect(w.paused.length).toBe(Math.ceil(POLL_LIMIT_MS / POLL_MS));
    expect(w.phases.at(-1)!.phase).toBe("queued");
  });

  it("tells nothing once the page is gone", async () => {
    const w = world([() => ({ status: 201, data: booking("confirmed", { tickets: [ticket] }) })]);
    await runBooking(w.deps, 1, w.report, () => false);
    expect(w.phases).toEqual([]);
  });

  it("hands a stream update only to the attempt waiting for it", () => {
    const updates = new BookingUpdates();
    const got: string[] = [];
    const stop = updates.wait("b1", (b) => got.push(b.status));
    updates.deliver(booking("confirmed", { id: "b2" }));
    updates.deliver(booking("confirmed"));
    stop();
    updates.deliver(booking("cancelled"));
    expect(got).toEqual(["confirmed"]);
  });
});
