// What the waiting room says to a buyer: their place, the wait, their turn. Pure, so vitest
// checks it; the panel (components/QueuePanel.tsx) only holds the state.
import type { QueueEntry } from "./api";

/** Whether an entry can still change (the panel keeps listening and asking). */
export function stillMoving(entry: QueueEntry): boolean {
  return entry.status === "prequeue" || entry.status === "waiting" || entry.status === "admitted"
    || entry.status === "pending";
}

/** "about 3 min", "about 40 s", "less than a minute"; null when unknown. */
export function waitText(seconds: number | null): string | null {
  if (seconds === null) return null;
  if (seconds < 60) return seconds <= 10 ? "a few seconds" : `about ${Math.ceil(seconds / 10) * 10} s`;
  return `about ${Math.round(seconds / 60)} min`;
}

/** How far along the line a waiting buyer is, 0-100, from the place they first had. */
export function progress(first: number | null, position: number | null): number {
  if (first === null || position === null || first <= 1) return position === null ? 0 : 100;
  return Math.round(((first - position) / (first - 1)) * 100);
}

/** The headline of an entry. */
export function headline(entry: QueueEntry): string {
  switch (entry.status) {
    case "prequeue":
      return `You are in the pre-queue with ${entry.prequeued ?? 1} ${entry.prequeued === 1 ? "person" : "people"}`;
    case "waiting":
      return `Your place in line: ${entry.position ?? "?"}`;
    case "admitted":
      return "It's your turn";
    case "used":
      return "You booked with your turn";
    case "expired":
      return "Your turn ran out";
    case "closed":
      return "Sold out";
    case "pending":
      return "Joining the waiting room…";
  }
}
