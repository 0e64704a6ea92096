// The door camera's rules: one check-in per ticket held up, another when shown again later,
// none lost to a check-in in flight; and its words for a camera that cannot be had.
import { describe, expect, it } from "vitest";
import { REPEAT_AFTER_MS, ScanGate, cameraProblem } from "./scan";

describe("ScanGate", () => {
  it("checks a code in once while it stays in view", () => {
    const gate = new ScanGate();
    expect(gate.admit("TW-A", 0, false)).toBe(true);
    // Read four times a second for ten seconds: still the same sighting.
    for (let t = 250; t <= 10_000; t += 250) expect(gate.admit("TW-A", t, false)).toBe(false);
  });

  it("checks a code again once it was out of view long enough", () => {
    const gate = new ScanGate();
    expect(gate.admit("TW-A", 0, false)).toBe(true);
    expect(gate.admit("TW-A", REPEAT_AFTER_MS - 1, false)).toBe(false);
    expect(gate.admit("TW-A", 2 * REPEAT_AFTER_MS, false)).toBe(true);
  });

  it("moves on to the next ticket at once, and back", () => {
    const gate = new ScanGate();
    expect(gate.admit("TW-A", 0, false)).toBe(true);
    expect(gate.admit("TW-B", 100, false)).toBe(true);
    expect(gate.admit("TW-A", 200, false)).toBe(true);
  });

  it("leaves a code read during another check-in for its next read", () => {
    const gate = new ScanGate();
    expect(gate.admit("TW-A", 0, false)).toBe(true);
    expect(gate.admit("TW-B", 100, true)).toBe(false);  // A's answer not back yet
    expect(gate.admit("TW-B", 350, false)).toBe(true);
  });

  it("keeps a sighting going through a check-in in flight", () => {
    const gate = new ScanGate();
    expect(gate.admit("TW-A", 0, false)).toBe(true);
    for (let t = 1000; t <= 5000; t += 1000) expect(gate.admit("TW-A", t, true)).toBe(false);
    expect(gate.admit("TW-A", 6000, false)).toBe(false);
  });
});

describe("cameraProblem", () => {
  const named = (name: string, message = "") => new DOMException(message, name);

  it("tells refused from missing from busy, and always offers typing", () => {
    expect(cameraProblem(named("NotAllowedError"))).toMatch(/^Camera access was refused\./);
    expect(cameraProblem(named("NotFoundError"))).toMatch(/^No camera was found/);
    expect(cameraProblem(named("NotReadableError"))).toMatch(/another app may be using it/);
    expect(cameraProblem(null)).toMatch(/needs an https address/);
    for (const error of [named("NotAllowedError"), named("NotFoundError"), null, new Error("boom")]) {
      expect(cameraProblem(error)).toMatch(/ Type the code instead\.$/);
    }
  });

  it("passes an unexpected error's message on", () => {
    expect(cameraProblem(new TypeError("video did not play")))
      .toBe("The camera could not be used: video did not play. Type the code instead.");
    expect(cameraProblem("odd")).toBe("The camera could not be used. Type the code instead.");
  });
});
