// Amounts in the currency's minor unit, shown with that currency's decimals.
import { describe, expect, it } from "vitest";
import { formatAmount } from "./money";

describe("formatAmount", () => {
  it("reads cents as hundredths", () => {
    expect(formatAmount(1250, "EUR", "en-US")).toBe("€12.50");
    expect(formatAmount(5, "USD", "en-US")).toBe("$0.05");
  });

  it("takes a currency without decimals as whole units", () => {
    expect(formatAmount(700, "JPY", "en-US")).toBe("¥700");
  });

  it("takes three decimals where the currency has them", () => {
    expect(formatAmount(1250, "KWD", "en-US")).toMatch(/^KWD\s1\.250$/);
  });

  it("follows the locale", () => {
    expect(formatAmount(1250, "EUR", "de-DE")).toBe("12,50\u00a0€");
  });
});
