// The forms' number handling: what was typed is read as typed, and a booking's quantity is
// bounded by the seats left and the buyer's remaining allowance.
import { describe, expect, it } from "vitest";
import { checkQuantity, mostSeats, wholeNumber } from "./numbers";

describe("wholeNumber", () => {
  it("reads whole numbers, typed or given", () => {
    expect(wholeNumber(3)).toBe(3);
    expect(wholeNumber("12")).toBe(12);
    expect(wholeNumber(" 5 ")).toBe(5);
    expect(wholeNumber("-5")).toBe(-5);
    expect(wholeNumber("007")).toBe(7);
  });

  it("refuses what is not one: empty, decimals, words, huge or unsafe numbers", () => {
    for (const typed of ["", " ", "1.5", "1e3", "abc", "2 3", "1234567890123456", 1.5, NaN,
      Infinity, 2 ** 60]) {
      expect(wholeNumber(typed), String(typed)).toBeNull();
    }
  });
});

describe("mostSeats", () => {
  it("is what is left, within what the buyer may still add", () => {
    expect(mostSeats({ left: 10, limit: null, mine: 0 })).toBe(10);
    expect(mostSeats({ left: 10, limit: 4, mine: 0 })).toBe(4);
    expect(mostSeats({ left: 10, limit: 4, mine: 3 })).toBe(1);
    expect(mostSeats({ left: 1, limit: 4, mine: 0 })).toBe(1);
    expect(mostSeats({ left: 10, limit: 4, mine: 4 })).toBe(0);
    expect(mostSeats({ left: 0, limit: null, mine: 0 })).toBe(0);
    expect(mostSeats({ left: 10, limit: 2, mine: 5 })).toBe(0); // the limit was lowered
  });
});

describe("checkQuantity", () => {
  const open = { left: 5, limit: 4, mine: 0 };

  it("passes a quantity within every bound", () => {
    expect(checkQuantity("2", open)).toEqual({ ok: true, seats: 2 });
    expect(checkQuantity(4, open)).toEqual({ ok: true, seats: 4 });
  });

  it("asks for a whole number of 1 or more", () => {
    for (const typed of ["", "0", "-1", "1.5", 0]) {
      expect(checkQuantity(typed, open)).toMatchObject({ ok: false, offer: null });
    }
  });

  it("states the limit per buyer, and what is left of it", () => {
    expect(checkQuantity("5", open)).toEqual(
      { ok: false, problem: "You can book at most 4 seats per buyer.", offer: 4 });
    expect(checkQuantity("3", { ...open, mine: 3 })).toEqual({
      ok: false, offer: 1,
      problem: "You can book 1 more: you hold 3 seats of the 4 allowed per buyer.",
    });
    expect(checkQuantity("1", { ...open, mine: 4 })).toEqual(
      { ok: false, problem: "You already hold 4 seats, the most one buyer may have.", offer: null });
  });

  it("offers what is left when fewer seats are left than asked for", () => {
    expect(checkQuantity("2", { left: 1, limit: 4, mine: 0 })).toEqual(
      { ok: false, problem: "Only 1 left — book 1?", offer: 1 });
    expect(checkQuantity("2", { left: 0, limit: null, mine: 0 })).toMatchObject(
      { ok: false, offer: null });
  });
});
