// A buyer's booking attempt, from the click to a final answer. The engine may answer at once
// (201 confirmed, 409/422 refused) or put the request in the queue (202): then the outcome
// comes on the event stream, and we also poll its Location in case that push is lost.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, api } from "./api";
import type { Booking } from "./api";

export type Attempt =
  | { phase: "idle" }
  | { phase: "sending"; retry: number }
  | { phase: "queued"; booking: Booking }
  | { phase: "retrying"; seconds: number; reason: string }
  | { phase: "confirmed"; booking: Booking }
  /** A paid event's booking: its seats are held until `expiresAt`, waiting to be paid. */
  | { phase: "held"; booking: Booking }
  /** `quantity`: how many seats were asked for, when known. */
  | { phase: "refused"; error: ApiError; quantity?: number };

/** Broker away or overloaded: the same request is sent again with the same key. */
export const MAX_RETRIES = 3;
/** Polling of a queued booking, in case its push on the stream never arrives. */
export const POLL_MS = 1500;
export const POLL_LIMIT_MS = 120_000;

type Listener = (booking: Booking) => void;

/** Routes booking outcomes pushed on the stream to the attempt waiting for them. */
export class BookingUpdates {
  private listeners = new Map<string, Listener>();

  wait(id: string, listener: Listener): () => void {
    this.listeners.set(id, listener);
    return () => this.listeners.delete(id);
  }

  deliver(booking: Booking): void {
    this.listeners.get(booking.id)?.(booking);
  }
}

/** A fresh Idempotency-Key. randomUUID exists only on https or localhost pages. */
export function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What one booking attempt needs from outside: the API, the stream, the clock. Passed in
 *  so the state machine below runs the same in the page and in its unit tests. */
export interface BookingDeps {
  /** POST the booking: 201 or 202 with the booking; a refusal is thrown as an ApiError. */
  send: (quantity: number, key: string) => Promise<{ status: number; data: Booking }>;
  /** GET the booking (its Location). */
  read: (id: string) => Promise<Booking>;
  /** Listen for this booking's outcome on the stream; returns the way to stop listening. */
  listen: (id: string, listener: Listener) => () => void;
  pause: (ms: number) => Promise<void>;
  now: () => number;
  key: () => string;
}

function refusal(booking: Booking): ApiError {
  const code = booking.reason ?? "rejected";
  return new ApiError(409, code, code.replace(/_/g, " "));
}

/**
 * One click's booking, from sending to a final answer, each phase told to `report`:
 * sending → (confirmed | held | refused) at once, or → queued → (confirmed | refused) from the
 * stream or a poll; a 503, a 504 or a network failure → retrying → sending again with the same
 * Idempotency-Key, at most MAX_RETRIES times. Stops reporting once `alive()` is false.
 */
export async function runBooking(deps: BookingDeps, quantity: number,
  report: (attempt: Attempt) => void, alive: () => boolean = () => true): Promise<void> {
  const tell = (attempt: Attempt) => {
    if (alive()) report(attempt);
  };
  const settle = (booking: Booking) => {
    if (booking.status === "confirmed") {
      tell({ phase: "confirmed", booking });
      // Decided in the queue and pushed on the stream, which carries no ticket codes: read them.
      if (booking.tickets.length === 0) {
        void deps.read(booking.id).then((full) => {
          if (full.status === "confirmed") tell({ phase: "confirmed", booking: full });
        }, () => undefined);
      }
    } else if (booking.status === "held") {
      tell({ phase: "held", booking });
    } else if (booking.status !== "pending") {
      tell({ phase: "refused", error: refusal(booking), quantity: booking.quantity });
    }
  };
  const waitForOutcome = async (booking: Booking) => {
    tell({ phase: "queued", booking });
    let done = false;
    const stop = deps.listen(booking.id, (b) => {
      if (done) return;
      done = b.status !== "pending";
      settle(b);
    });
    try {
      const deadline = deps.now() + POLL_LIMIT_MS;
      while (!done && alive() && deps.now() < deadline) {
        await deps.pause(POLL_MS);
        if (done) break;
        try {
          const now = await deps.read(booking.id);
          if (done) break;
          done = now.status !== "pending";
          settle(now);
        } catch {
          // A failed poll is not an answer: the next one, or the stream, will be.
        }
      }
    } finally {
      stop();
    }
  };

  // One key per click: every retry of this click is the same booking to the server.
  const key = deps.key();
  for (let retry = 0; ; retry++) {
    tell({ phase: "sending", retry });
    try {
      const { status, data } = await deps.send(quantity, key);
      if (status === 202) await waitForOutcome(data);
      else settle(data);
      return;
    } catch (e) {
      const error = e instanceof ApiError ? e : new ApiError(0, "network_error", String(e));
      // 504 outcome_unknown: it may have been booked; the same key answers which.
      const transient = error.status === 503 || error.status === 504 || error.status === 0;
      if (!transient || retry >= MAX_RETRIES) {
        tell({ phase: "refused", error, quantity });
        return;
      }
      const seconds = error.retryAfter ?? 2 ** retry;
      tell({ phase: "retrying", seconds, reason: error.message });
      await deps.pause(seconds * 1000);
      if (!alive()) return;
    }
  }
}

/** The booking attempt of one event's panel, as React state. */
export function useBookingAttempt(token: string | null, eventId: number, updates: BookingUpdates) {
  const [attempt, setAttempt] = useState<Attempt>({ phase: "idle" });
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);

  const book = useCallback(async (quantity: number) => {
    if (!token) return;
    await runBooking({
      send: (q, key) => api.book(token, eventId, q, key),
      read: (id) => api.booking(token, id),
      listen: (id, listener) => updates.wait(id, listener),
      pause: (ms) => new Promise((resolve) => window.setTimeout(resolve, ms)),
      now: () => Date.now(),
      key: newKey,
    }, quantity, setAttempt, () => alive.current);
  }, [token, eventId, updates]);

  const reset = useCallback(() => setAttempt({ phase: "idle" }), []);
  return { attempt, book, reset };
}
