// The organizer's live view of a surge: from the counts the stream pushes (at most ten a
// second per event: the gateway debounces them), bookings and seats sold in each second and
// seats left at its end, over the last minute. Seats given back (a cancel, an expired hold)
// are counted apart, so a second's sales are never shown negative.
//
// Bookings come as the owning actor's running count since it loaded the event, with the
// epoch it loaded it under: a second's bookings are the count's rise, and a count under a
// new epoch (the event was reloaded, e.g. after an edit) is all new bookings since. Being a
// running total, a frame the debounce folded into the next loses nothing. The count starts
// from the event read as the page opens (the gateway's latest, or none heard: from 0), or
// else, when a frame comes before that read, from the first frame.

/** The stream's booking count of an event: bookings since its actor loaded it, and when. */
export interface BookedCount {
  count: number;
  /** null: no count heard yet (`NONE_HEARD`). */
  epoch: number | null;
}

/** Where counting starts when the gateway has heard no count of the event yet: any count
 *  that comes is all new. (After a gateway restart that count may include bookings from
 *  before the page opened, drawn in its first second: the gateway cannot know them.) */
export const NONE_HEARD: BookedCount = { count: 0, epoch: null };

export interface SurgePoint {
  /** Whole seconds since the epoch. */
  second: number;
  /** "12:04:05" in the browser's time. */
  label: string;
  /** Bookings taken in this second (a booking of 3 seats is one). */
  bookings: number;
  sold: number;
  returned: number;
  left: number;
}

export interface Surge {
  points: SurgePoint[];
  /** The last count seen (null before the first). */
  left: number | null;
  /** Highest seats sold in one second so far. */
  peak: number;
  /** The last booking count seen (null before the first). */
  booked: BookedCount | null;
  /** A frame's count that came before the event read, taken as the start meanwhile: the
   *  read (`startFrom`) then adds what that frame carried past the read's count. */
  firstFrame: BookedCount | null;
}

export const WINDOW_SECONDS = 60;

export const emptySurge = (left: number | null = null): Surge =>
  ({ points: [], left, peak: 0, booked: null, firstFrame: null });

const label = (second: number) => new Date(second * 1000).toLocaleTimeString();

/** Move the time axis to `nowMs`: every second with no update is a point with no sales. */
export function tick(surge: Surge, nowMs: number): Surge {
  if (surge.left === null) return surge;
  const second = Math.floor(nowMs / 1000);
  const last = surge.points.at(-1);
  if (last && last.second >= second) return surge;
  // The first count draws the whole window (a steady axis), quiet until now.
  const from = last ? Math.max(last.second + 1, second - WINDOW_SECONDS + 1) : second - WINDOW_SECONDS + 1;
  const added: SurgePoint[] = [];
  for (let s = from; s <= second; s++) {
    added.push({ second: s, label: label(s), bookings: 0, sold: 0, returned: 0, left: surge.left });
  }
  return { ...surge, points: [...surge.points, ...added].slice(-WINDOW_SECONDS) };
}

/** The booking count a stream frame or an event read carries, if it carries one. */
export function bookedCount(from: { bookings?: number; bookingsEpoch?: number }): BookedCount | undefined {
  return from.bookings !== undefined && from.bookingsEpoch !== undefined
    ? { count: from.bookings, epoch: from.bookingsEpoch } : undefined;
}

/** Bookings between two counts (none from the first one seen: it only sets the start). */
export function newBookings(before: BookedCount | null, now: BookedCount): number {
  if (before === null) return 0;
  if (now.epoch !== before.epoch) return now.count; // reloaded (or first heard): from 0
  return Math.max(0, now.count - before.count);
}

/** A stock update from the stream at `nowMs`: seats left, and the booking count when the
 *  update carries one (an edit's does not: the last count stands). */
export function record(surge: Surge, nowMs: number, left: number, booked?: BookedCount): Surge {
  const count = booked ?? surge.booked;
  const firstFrame = surge.booked === null && booked ? booked : surge.firstFrame;
  if (surge.left === null) return tick({ ...surge, left, booked: count, firstFrame }, nowMs);
  const moved = tick(surge, nowMs);
  const points = moved.points.slice();
  const last = points.at(-1)!;
  const change = (moved.left ?? left) - left;
  const current = {
    ...last, left,
    bookings: last.bookings + (booked ? newBookings(surge.booked, booked) : 0),
    sold: last.sold + Math.max(0, change), returned: last.returned + Math.max(0, -change),
  };
  points[points.length - 1] = current;
  return { points, left, peak: Math.max(moved.peak, current.sold), booked: count, firstFrame };
}

/** The booking count as the event read says it stood when the page opened. */
export function startFrom(surge: Surge, base: BookedCount): Surge {
  if (surge.booked === null) return { ...surge, booked: base };
  const first = surge.firstFrame;
  if (first === null) return surge;
  const missed = newBookings(base, first);
  const points = surge.points.slice();
  const last = points.at(-1);
  if (last) points[points.length - 1] = { ...last, bookings: last.bookings + missed };
  return { ...surge, points, firstFrame: null };
}
