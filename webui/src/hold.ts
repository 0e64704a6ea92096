// A held booking's time to pay: the clock the buyer sees (mm:ss, every second) and what a
// screen reader is told, which changes only at coarse steps so it is not read out each second.

/** "04:05" until the hold ends, then null (under an hour, as holds are; longer ones show
 *  hours too). */
export { countdown as holdClock } from "./dates";

/** What is announced about the time left: once a minute, then at 30 and 10 seconds; null
 *  once it is over (the expiry message says so instead). */
export function holdAnnouncement(ms: number): string | null {
  if (ms <= 0) return null;
  const seconds = Math.ceil(ms / 1000);
  if (seconds <= 10) return "10 seconds left to pay.";
  if (seconds <= 30) return "30 seconds left to pay.";
  if (seconds <= 60) return "1 minute left to pay.";
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes left to pay.`;
}
