import { describe, expect, it } from "vitest";
import { formKey } from "./keys";

describe("formKey", () => {
  it("is the same for the same draft and fields, whatever the field order", () => {
    const a = formKey("d1", { name: "Gig", totalTickets: 10 });
    expect(formKey("d1", { totalTickets: 10, name: "Gig" })).toBe(a);
    expect(a).toMatch(/^d1:[0-9a-f]{8}$/);
  });

  it("changes with the fields and with the draft", () => {
    const a = formKey("d1", { name: "Gig", totalTickets: 10 });
    expect(formKey("d1", { name: "Gig", totalTickets: 11 })).not.toBe(a);
    expect(formKey("d2", { name: "Gig", totalTickets: 10 })).not.toBe(a);
  });

  it("stays within the server's 200 characters for a uuid draft", () => {
    const key = formKey(crypto.randomUUID(), { description: "x".repeat(5000) });
    expect(key.length).toBeLessThanOrEqual(200);
  });
});
