// Dates as people read them, in the browser's language and time zone.

/** "Friday, 1 May 2099, 22:00": with the weekday, for an event's date. */
export function longDate(iso: string): string {
  return new Date(iso).toLocaleString(undefined, {
    weekday: "long", year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

/** A short date and time, for lists. */
export function shortDate(iso: string | null): string | null {
  return iso ? new Date(iso).toLocaleString() : null;
}

/** Time left until a moment, as a countdown: "2 d 03:04:05", "04:05", or null once past. */
export function countdown(ms: number): string | null {
  if (ms <= 0) return null;
  const total = Math.ceil(ms / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  const clock = hours || days ? `${pad(hours)}:${pad(minutes)}:${pad(seconds)}` : `${pad(minutes)}:${pad(seconds)}`;
  return days ? `${days} d ${clock}` : clock;
}

/** Time left as a screen reader is told it, in steps coarse enough that a live region
 *  holding it speaks seldom: by days beyond two days, by hours beyond 50 minutes, by ten
 *  minutes beyond ten, then each minute, then 30 and 10 seconds; null once past. Rounded up,
 *  so the words are exact as a step is crossed (when they change, and are said). */
export function spokenTimeLeft(ms: number): string | null {
  if (ms <= 0) return null;
  const seconds = Math.ceil(ms / 1000);
  const minutes = Math.ceil(seconds / 60);
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (seconds <= 10) return "10 seconds";
  if (seconds <= 30) return "30 seconds";
  if (minutes <= 10) return plural(minutes, "minute");
  const tens = Math.ceil(minutes / 10) * 10;
  if (tens < 60) return `about ${tens} minutes`;
  const hours = Math.ceil(minutes / 60);
  if (hours <= 48) return `about ${plural(hours, "hour")}`;
  return `about ${plural(Math.ceil(hours / 24), "day")}`;
}

/** "21:07": the hour and minute of a moment on a 24-hour clock (HH:MM, as a door reads it
 *  out), in the browser's time zone. */
export function clockTime(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}
