// The door's time of day: HH:MM on a 24-hour clock, in the browser's time zone.
import { describe, expect, it } from "vitest";
import { clockTime } from "./dates";

describe("clockTime", () => {
  it("says hours and minutes, two digits each, past noon on a 24-hour clock", () => {
    const at = new Date(2099, 4, 1, 21, 7, 59); // local time
    expect(clockTime(at.toISOString())).toBe("21:07");
    expect(clockTime(new Date(2099, 4, 1, 9, 5).toISOString())).toBe("09:05");
  });
});
