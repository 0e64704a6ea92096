// The waiting room's words: places, waits, progress.
import { describe, expect, it } from "vitest";
import type { QueueEntry } from "./api";
import { headline, progress, stillMoving, waitText } from "./queue";

const entry = (over: Partial<QueueEntry>): QueueEntry => ({
  queueId: "q", eventId: 1, status: "waiting", position: 3, estimatedWaitSeconds: null,
  refreshAfterSeconds: 5, ...over,
});

describe("headline", () => {
  it("names the place, the pre-queue's size, the turn and the end", () => {
    expect(headline(entry({}))).toBe("Your place in line: 3");
    expect(headline(entry({ status: "prequeue", position: null, prequeued: 2 }))).toBe(
      "You are in the pre-queue with 2 people");
    expect(headline(entry({ status: "admitted" }))).toBe("It's your turn");
    expect(headline(entry({ status: "closed" }))).toBe("Sold out");
  });
});

describe("waitText and progress", () => {
  it("rounds waits to what a person can use", () => {
    expect(waitText(null)).toBeNull();
    expect(waitText(7)).toBe("a few seconds");
    expect(waitText(41)).toBe("about 50 s");
    expect(waitText(185)).toBe("about 3 min");
  });

  it("measures the way from the first place to the front", () => {
    expect(progress(11, 11)).toBe(0);
    expect(progress(11, 6)).toBe(50);
    expect(progress(11, 1)).toBe(100);
    expect(progress(null, null)).toBe(0);
  });

  it("keeps listening only while the entry can change", () => {
    expect(stillMoving(entry({}))).toBe(true);
    expect(stillMoving(entry({ status: "used" }))).toBe(false);
    expect(stillMoving(entry({ status: "closed" }))).toBe(false);
  });
});
