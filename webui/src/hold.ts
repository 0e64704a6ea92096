// A held booking's time to pay (or, when it costs nothing, to accept): the clock the buyer
// sees (mm:ss, every second) and what a screen reader is told, which changes only at coarse
// steps so it is not read out each second.
import { spokenTimeLeft } from "./dates";

/** "04:05" until the hold ends, then null (under an hour, as holds are; longer ones show
 *  hours too). */
export { countdown as holdClock } from "./dates";

/** A hold that costs nothing (a free event's waiting-list offer): it is accepted, with no
 *  card, not paid. Unknown (its price not read yet) is not free. */
export function isFreeHold(booking: { amountCents?: number | null }): boolean {
  return booking.amountCents === 0;
}

/** What the buyer does with a hold before its time runs out. */
export type HoldAction = "pay" | "accept";

/** What is announced about the time left: once a minute, then at 30 and 10 seconds; null
 *  once it is over (the expiry message says so instead). */
export function holdAnnouncement(ms: number, action: HoldAction = "pay"): string | null {
  // A hold is short: each minute, not the coarser steps of a sale's countdown.
  const time = ms > 60_000 ? `${Math.ceil(ms / 60_000)} minutes` : spokenTimeLeft(ms);
  return time === null ? null : `${time} left to ${action}.`;
}
