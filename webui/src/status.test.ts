// An event's status as stock updates come.
import { describe, expect, it } from "vitest";
import { liveStatus } from "./status";

describe("liveStatus", () => {
  it("sells out at 0 and reopens above it", () => {
    expect(liveStatus("on_sale", 0)).toBe("sold_out");
    expect(liveStatus("sold_out", 2)).toBe("on_sale");
    expect(liveStatus("scheduled", 3)).toBe("scheduled");
  });

  it("keeps a cancelled event cancelled, whatever its seats read", () => {
    expect(liveStatus("cancelled", 0)).toBe("cancelled");
    expect(liveStatus("cancelled", 5)).toBe("cancelled");
  });
});
