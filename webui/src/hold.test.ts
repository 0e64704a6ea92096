// The hold's countdown and what screen readers hear of it.
import { describe, expect, it } from "vitest";
import { holdAnnouncement, holdClock, isFreeHold } from "./hold";

describe("holdClock", () => {
  it("shows minutes and seconds, rounding up to the next second", () => {
    expect(holdClock(300_000)).toBe("05:00");
    expect(holdClock(61_500)).toBe("01:02");
    expect(holdClock(1)).toBe("00:01");
  });

  it("is over at zero", () => {
    expect(holdClock(0)).toBeNull();
    expect(holdClock(-5)).toBeNull();
  });
});

describe("holdAnnouncement", () => {
  it("changes once a minute, not every second", () => {
    expect(holdAnnouncement(300_000)).toBe("5 minutes left to pay.");
    expect(holdAnnouncement(241_000)).toBe("5 minutes left to pay.");
    expect(holdAnnouncement(240_000)).toBe("4 minutes left to pay.");
    expect(holdAnnouncement(61_000)).toBe("2 minutes left to pay.");
  });

  it("counts the last minute down in two steps", () => {
    expect(holdAnnouncement(60_000)).toBe("1 minute left to pay.");
    expect(holdAnnouncement(30_000)).toBe("30 seconds left to pay.");
    expect(holdAnnouncement(10_000)).toBe("10 seconds left to pay.");
  });

  it("says nothing once the hold is over", () => {
    expect(holdAnnouncement(0)).toBeNull();
  });
});

describe("a free hold", () => {
  it("is one whose amount is known to be zero", () => {
    expect(isFreeHold({ amountCents: 0 })).toBe(true);
    expect(isFreeHold({ amountCents: 900 })).toBe(false);
    expect(isFreeHold({})).toBe(false); // not read yet: the pay form waits, it is not offered free
  });

  it("is announced as time left to accept", () => {
    expect(holdAnnouncement(300_000, "accept")).toBe("5 minutes left to accept.");
    expect(holdAnnouncement(10_000, "accept")).toBe("10 seconds left to accept.");
  });
});
