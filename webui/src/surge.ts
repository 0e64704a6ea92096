// The organizer's live view of a surge: from the seats-left counts the stream pushes (at most
// ten a second per event: the gateway debounces them), seats sold in each second and seats
// left at its end, over the last minute. Seats given back (a cancel, an expired hold) are
// counted apart, so a second's sales are never shown negative.

export interface SurgePoint {
  /** Whole seconds since the epoch. */
  second: number;
  /** "12:04:05" in the browser's time. */
  label: string;
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
}

export const WINDOW_SECONDS = 60;

export const emptySurge = (left: number | null = null): Surge => ({ points: [], left, peak: 0 });

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
    added.push({ second: s, label: label(s), sold: 0, returned: 0, left: surge.left });
  }
  return { ...surge, points: [...surge.points, ...added].slice(-WINDOW_SECONDS) };
}

/** A seats-left count from the stream, at `nowMs`. */
export function record(surge: Surge, nowMs: number, left: number): Surge {
  if (surge.left === null) return tick({ ...surge, left }, nowMs);
  const moved = tick(surge, nowMs);
  const points = moved.points.slice();
  const last = points.at(-1)!;
  const change = (moved.left ?? left) - left;
  const current = {
    ...last, left,
    sold: last.sold + Math.max(0, change), returned: last.returned + Math.max(0, -change),
  };
  points[points.length - 1] = current;
  return { points, left, peak: Math.max(moved.peak, current.sold) };
}
