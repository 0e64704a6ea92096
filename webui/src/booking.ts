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
  /** `quantity`: how many seats were asked for, when known. */
  | { phase: "refused"; error: ApiError; quantity?: number };

/** Broker away or overloaded: the same request is sent again with the same key. */
const MAX_RETRIES = 3;
/** Polling of a queued booking, in case its push on the stream never arrives. */
const POLL_MS = 1500;
const POLL_LIMIT_MS = 120_000;

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
function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0")).join("");
}

const pause = (ms: number) => new Promise((resolve) => window.setTimeout(resolve, ms));

function refusal(booking: Booking): ApiError {
  const code = booking.reason ?? "rejected";
  return new ApiError(409, code, code.replace(/_/g, " "));
}

export function useBookingAttempt(token: string | null, eventId: number, updates: BookingUpdates) {
  const [attempt, setAttempt] = useState<Attempt>({ phase: "idle" });
  const alive = useRef(true);
  useEffect(() => () => {
    alive.current = false;
  }, []);

  const settle = useCallback((booking: Booking) => {
    if (!alive.current) return;
    if (booking.status === "confirmed") {
      setAttempt({ phase: "confirmed", booking });
      // Decided in the queue and pushed on the stream, which carries no ticket codes: read them.
      if (booking.tickets.length === 0 && token) {
        void api.booking(token, booking.id).then((full) => {
          if (alive.current && full.status === "confirmed") setAttempt({ phase: "confirmed", booking: full });
        }, () => undefined);
      }
    }
    else if (booking.status !== "pending") {
      setAttempt({ phase: "refused", error: refusal(booking), quantity: booking.quantity });
    }
  }, [token]);

  const waitForOutcome = useCallback(async (booking: Booking) => {
    if (!token) return;
    setAttempt({ phase: "queued", booking });
    let done = false;
    const stop = updates.wait(booking.id, (b) => {
      done = b.status !== "pending";
      settle(b);
    });
    try {
      const deadline = Date.now() + POLL_LIMIT_MS;
      while (!done && alive.current && Date.now() < deadline) {
        await pause(POLL_MS);
        if (done) break;
        try {
          const now = await api.booking(token, booking.id);
          done = now.status !== "pending";
          settle(now);
        } catch {
          // A failed poll is not an answer: the next one, or the stream, will be.
        }
      }
    } finally {
      stop();
    }
  }, [token, updates, settle]);

  const book = useCallback(async (quantity: number) => {
    if (!token) return;
    // One key per click: every retry of this click is the same booking to the server.
    const key = newKey();
    for (let retry = 0; ; retry++) {
      setAttempt({ phase: "sending", retry });
      try {
        const { status, data } = await api.book(token, eventId, quantity, key);
        if (status === 202) await waitForOutcome(data);
        else settle(data);
        return;
      } catch (e) {
        const error = e instanceof ApiError ? e : new ApiError(0, "network_error", String(e));
        const transient = error.status === 503 || error.status === 0;
        if (!transient || retry >= MAX_RETRIES) {
          if (alive.current) setAttempt({ phase: "refused", error, quantity });
          return;
        }
        const seconds = error.retryAfter ?? 2 ** retry;
        setAttempt({ phase: "retrying", seconds, reason: error.message });
        await pause(seconds * 1000);
        if (!alive.current) return;
      }
    }
  }, [token, eventId, waitForOutcome, settle]);

  const reset = useCallback(() => setAttempt({ phase: "idle" }), []);
  return { attempt, book, reset };
}
