// The add-to-calendar file follows RFC 5545: CRLF line ends, UID and DTSTAMP, escaped text,
// lines folded at 75 octets.
import { describe, expect, it } from "vitest";
import { escapeText, fold, icsFile, utcStamp } from "./calendar";

const entry = {
  uid: "booking-1b2c@ticketwar",
  summary: "Gala; night, \\ live",
  location: "Hall A, Main St",
  description: "Tickets: TW-AAAA, TW-BBBB\nBring them.",
  start: new Date("2099-05-01T20:00:00Z"),
  stamp: new Date("2026-12-01T23:05:09.123Z"),
};

describe("icsFile", () => {
  it("is a VCALENDAR with one VEVENT, every line ended by CRLF", () => {
    const file = icsFile(entry);
    expect(file.endsWith("\r\n")).toBe(true);
    expect(file.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
    const lines = file.split("\r\n");
    expect(lines.slice(0, 2)).toEqual(["BEGIN:VCALENDAR", "VERSION:2.0"]);
    expect(lines).toContain("UID:booking-1b2c@ticketwar");
    expect(lines).toContain("DTSTAMP:20261201T230509Z");
    expect(lines).toContain("DTSTART:20990501T200000Z");
    expect(lines).toContain("SUMMARY:Gala\\; night\\, \\\\ live");
    expect(lines).toContain("LOCATION:Hall A\\, Main St");
    expect(lines).toContain("DESCRIPTION:Tickets: TW-AAAA\\, TW-BBBB\\nBring them.");
    expect(lines.at(-2)).toBe("END:VCALENDAR");
  });

  it("leaves LOCATION out for an event without a venue", () => {
    expect(icsFile({ ...entry, location: null })).not.toContain("LOCATION");
  });
});

describe("text and lines", () => {
  it("escapes what TEXT must", () => {
    expect(escapeText("a\\b;c,d\r\ne\nf")).toBe("a\\\\b\\;c\\,d\\ne\\nf");
  });

  it("writes UTC stamps without separators or fractions", () => {
    expect(utcStamp(new Date("2030-01-02T03:04:05.678Z"))).toBe("20300102T030405Z");
  });

  it("folds at 75 octets, never inside a character", () => {
    const long = "DESCRIPTION:" + "é".repeat(100);
    const parts = fold(long).split("\r\n");
    expect(parts.length).toBeGreaterThan(1);
    const octets = (s: string) => new TextEncoder().encode(s).length;
    for (const part of parts) expect(octets(part)).toBeLessThanOrEqual(75);
    expect(parts.slice(1).every((p) => p.startsWith(" "))).toBe(true);
    expect(parts.map((p, i) => (i ? p.slice(1) : p)).join("")).toBe(long);
    expect(fold("SHORT:x")).toBe("SHORT:x");
  });
});
