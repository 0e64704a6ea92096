// An add-to-calendar file (iCalendar, RFC 5545) for a booking: one VEVENT at the event's
// start, its tickets' codes in the description. Lines end in CRLF and are folded at 75
// octets; text is escaped (backslash, semicolon, comma, newline), as the RFC requires.

export interface CalendarEntry {
  /** Stable per booking, so importing the file twice updates the same entry. */
  uid: string;
  summary: string;
  location: string | null;
  description: string;
  start: Date;
  /** When the file was made (DTSTAMP). */
  stamp: Date;
}

/** RFC 5545 TEXT: backslash, semicolon and comma escaped, line breaks as \n. */
export function escapeText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,")
    .replace(/\r\n|\r|\n/g, "\\n");
}

/** A UTC DATE-TIME: 20990501T200000Z. */
export function utcStamp(moment: Date): string {
  return moment.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

const encoder = new TextEncoder();

/** One content line folded so that no line is longer than 75 octets (a continuation starts
 *  with a space), never inside a UTF-8 character. */
export function fold(line: string): string {
  const parts: string[] = [];
  let current = "";
  let octets = 0;
  for (const char of line) {
    const size = encoder.encode(char).length;
    const room = parts.length === 0 ? 75 : 74; // the leading space counts
    if (octets + size > room) {
      parts.push(current);
      current = "";
      octets = 0;
    }
    current += char;
    octets += size;
  }
  parts.push(current);
  return parts.join("\r\n ");
}

export function icsFile(entry: CalendarEntry): string {
  const lines = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Ticket War Engine//Tickets//EN",
    "CALSCALE:GREGORIAN",
    "METHOD:PUBLISH",
    "BEGIN:VEVENT",
    `UID:${escapeText(entry.uid)}`,
    `DTSTAMP:${utcStamp(entry.stamp)}`,
    `DTSTART:${utcStamp(entry.start)}`,
    `SUMMARY:${escapeText(entry.summary)}`,
    ...(entry.location ? [`LOCATION:${escapeText(entry.location)}`] : []),
    `DESCRIPTION:${escapeText(entry.description)}`,
    "END:VEVENT",
    "END:VCALENDAR",
  ];
  return lines.map(fold).join("\r\n") + "\r\n";
}
