// Number fields hold what the user typed, even while it is empty or out of range: the value is
// read (and refused with a reason) only when the form is submitted, never rewritten under the
// cursor.

/** What a Mantine NumberInput reports: a number, or the text when it is not one (e.g. ""). */
export type Typed = string | number;

/** The whole number in the field, or null when it holds something else (empty, "1.5"). */
export function wholeNumber(value: Typed): number | null {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : null;
  const text = value.trim();
  return /^-?\d{1,15}$/.test(text) ? Number(text) : null;
}

/** What bounds a buyer's booking of one event right now. */
export interface SeatBounds {
  /** Seats still on sale. */
  left: number;
  /** Most seats one buyer may hold; null: no limit of the event's own. */
  limit: number | null;
  /** Seats this buyer already holds on the event (confirmed or held bookings). */
  mine: number;
}

/** The most seats this buyer can ask for now (0: none): what is left, and within the limit
 *  per buyer what they do not hold yet. */
export function mostSeats({ left, limit, mine }: SeatBounds): number {
  const room = limit === null ? Infinity : Math.max(0, limit - mine);
  return Math.max(0, Math.min(left, room));
}

const seats = (n: number) => `${n} seat${n === 1 ? "" : "s"}`;

/** A typed quantity checked before it is sent: the seats to book, or why not and, when
 *  fewer would do, how many to offer instead ("Only 1 left — book 1?"). */
export type QuantityCheck =
  | { ok: true; seats: number }
  | { ok: false; problem: string; offer: number | null };

export function checkQuantity(typed: Typed, bounds: SeatBounds): QuantityCheck {
  const wanted = wholeNumber(typed);
  if (wanted === null || wanted < 1) {
    return { ok: false, problem: "Enter how many seats you want (a whole number, 1 or more).", offer: null };
  }
  const { left, limit, mine } = bounds;
  const most = mostSeats(bounds);
  if (limit !== null && wanted > limit - mine) {
    const room = Math.max(0, limit - mine);
    const problem = mine === 0
      ? `You can book at most ${seats(limit)} per buyer.`
      : room === 0
        ? `You already hold ${seats(mine)}, the most one buyer may have.`
        : `You can book ${room} more: you hold ${seats(mine)} of the ${limit} allowed per buyer.`;
    return { ok: false, problem, offer: most > 0 ? most : null };
  }
  if (wanted > left) {
    return left === 0
      ? { ok: false, problem: "Sold out — every seat is taken.", offer: null }
      : { ok: false, problem: `Only ${left} left — book ${left}?`, offer: left };
  }
  return { ok: true, seats: wanted };
}
