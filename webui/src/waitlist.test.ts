// The words for a place on the waiting list.
import { describe, expect, it } from "vitest";
import { placeInLine } from "./waitlist";

describe("placeInLine", () => {
  it("says the place and the seats", () => {
    expect(placeInLine({ position: 1, quantity: 1 })).toBe("You are first in line for 1 seat.");
    expect(placeInLine({ position: 3, quantity: 2 })).toBe("You are number 3 in line for 2 seats.");
  });

  it("reads well before the place is known", () => {
    expect(placeInLine({ position: null, quantity: 2 })).toBe("You are on the waiting list for 2 seats.");
  });
});
