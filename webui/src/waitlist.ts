// The buyer's waiting-list entries, read once for all the panels of a page (a list of
// sold-out events would read them once per card otherwise), read again after a change or
// after a moment; and the words for a place in line.
import { api } from "./api";
import type { WaitlistEntry } from "./api";

/** A read this fresh is shared; positions move as others are served, so no longer. */
const FRESH_MS = 2000;

let cached: { token: string; at: number; entries: Promise<WaitlistEntry[]> } | null = null;

/** The caller's entries, shared by the panels that ask within FRESH_MS of each other. */
export function myWaitlist(token: string): Promise<WaitlistEntry[]> {
  if (!cached || cached.token !== token || Date.now() - cached.at > FRESH_MS) {
    const entries = api.myWaitlist(token);
    cached = { token, at: Date.now(), entries };
    entries.catch(() => {
      cached = null; // a failed read is not shared
    });
  }
  return cached.entries;
}

/** Forget the shared read: the next asks again (after a join, a leave, an offer). */
export function forgetWaitlist(): void {
  cached = null;
}

/** "You are number 3 in line for 2 seats." */
export function placeInLine(entry: Pick<WaitlistEntry, "position" | "quantity">): string {
  const seats = entry.quantity === 1 ? "1 seat" : `${entry.quantity} seats`;
  if (entry.position === null) return `You are on the waiting list for ${seats}.`;
  if (entry.position === 1) return `You are first in line for ${seats}.`;
  return `You are number ${entry.position} in line for ${seats}.`;
}
