// The door's time of day (HH:MM on a 24-hour clock, in the browser's time zone), and time
// left as a screen reader hears it.
import { describe, expect, it } from "vitest";
import { clockTime, spokenTimeLeft } from "./dates";

describe("clockTime", () => {
  it("says hours and minutes, two digits each, past noon on a 24-hour clock", () => {
    const at = new Date(2099, 4, 1, 21, 7, 59); // local time
    expect(clockTime(at.toISOString())).toBe("21:07");
    expect(clockTime(new Date(2099, 4, 1, 9, 5).toISOString())).toBe("09:05");
  });
});

describe("spokenTimeLeft", () => {
  const min = 60_000;
  it("counts the last ten minutes in minutes, then 30 and 10 seconds", () => {
    expect(spokenTimeLeft(10 * min)).toBe("10 minutes");
    expect(spokenTimeLeft(4 * min + 1000)).toBe("5 minutes");
    expect(spokenTimeLeft(60_000)).toBe("1 minute");
    expect(spokenTimeLeft(59_000)).toBe("1 minute");
    expect(spokenTimeLeft(30_000)).toBe("30 seconds");
    expect(spokenTimeLeft(1)).toBe("10 seconds");
  });

  it("steps by ten minutes within the hour, by hours within two days, then by days", () => {
    expect(spokenTimeLeft(10 * min + 1000)).toBe("about 20 minutes");
    expect(spokenTimeLeft(25 * min)).toBe("about 30 minutes");
    expect(spokenTimeLeft(20 * min + 30_000)).toBe("about 30 minutes"); // the same words:
    expect(spokenTimeLeft(19 * min + 59_000)).toBe("about 20 minutes"); // said once, here
    expect(spokenTimeLeft(50 * min)).toBe("about 50 minutes");
    expect(spokenTimeLeft(50 * min + 1000)).toBe("about 1 hour");
    expect(spokenTimeLeft(61 * min)).toBe("about 2 hours");
    expect(spokenTimeLeft(48 * 60 * min)).toBe("about 48 hours");
    expect(spokenTimeLeft(49 * 60 * min)).toBe("about 3 days");
  });

  it("says nothing once the moment has passed", () => {
    expect(spokenTimeLeft(0)).toBeNull();
    expect(spokenTimeLeft(-1)).toBeNull();
  });
});
