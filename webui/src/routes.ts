// The web UI's addresses. Real paths (history routing), so a page can be shared, bookmarked
// and reloaded; the gateway answers each of these shapes with index.html (gateway/webui.py
// PAGE_PATHS). Links of the old hash routing (`/#/tickets`) are sent to their path.

export const paths = {
  events: "/",
  event: (id: number) => `/events/${id}`,
  tickets: "/tickets",
  ticket: (bookingId: string) => `/tickets/${bookingId}`,
  organize: "/organize",
  organizeEvent: (id: number) => `/organize/events/${id}`,
  /** The door: check tickets in (the vendor, an admin, the event's door staff). */
  checkin: (id: number) => `/organize/events/${id}/checkin`,
} as const;

/** The section (header tab) an address belongs to. */
export type Section = "events" | "tickets" | "organize";

export function sectionOf(pathname: string): Section {
  if (pathname === "/tickets" || pathname.startsWith("/tickets/")) return "tickets";
  if (pathname === "/organize" || pathname.startsWith("/organize/")) return "organize";
  return "events";
}

/** The path an old hash link (`#/tickets`, `#/organize`, `#/events`) meant, or null. */
export function pathOfHash(hash: string): string | null {
  const match = /^#\/(events|tickets|organize)?\/?$/.exec(hash);
  if (!match) return null;
  return match[1] === "tickets" ? paths.tickets : match[1] === "organize" ? paths.organize : paths.events;
}
