// The organizer's surge chart: seats sold per second and seats left, from stream counts.
import { describe, expect, it } from "vitest";
import { WINDOW_SECONDS, emptySurge, record, tick } from "./surge";

const at = (second: number, ms = 0) => second * 1000 + ms;

describe("surge series", () => {
  it("adds each second's sales and keeps the count at its end", () => {
    let s = record(emptySurge(), at(100), 50); // the first count only sets the start
    s = record(s, at(100, 200), 45);
    s = record(s, at(100, 900), 40);
    s = record(s, at(101, 100), 38);
    expect(s.points.slice(-2).map((p) => [p.second, p.sold, p.left])).toEqual([[100, 10, 40], [101, 2, 38]]);
    expect(s.points).toHaveLength(WINDOW_SECONDS);
    expect(s.peak).toBe(10);
  });

  it("fills quiet seconds with no sales, so the axis keeps moving", () => {
    let s = record(emptySurge(), at(10), 5);
    expect(s.points[0]).toMatchObject({ second: 10 - WINDOW_SECONDS + 1, sold: 0, left: 5 });
    s = record(s, at(13), 4);
    expect(s.points.slice(-4).map((p) => [p.second, p.sold, p.left])).toEqual(
      [[10, 0, 5], [11, 0, 5], [12, 0, 5], [13, 1, 4]]);
    s = tick(s, at(15, 500));
    expect(s.points.map((p) => p.second).slice(-2)).toEqual([14, 15]);
    expect(s.points.at(-1)!.left).toBe(4);
  });

  it("counts seats given back apart, never as negative sales", () => {
    let s = record(emptySurge(), at(1), 3);
    s = record(s, at(1, 10), 1);
    s = record(s, at(1, 20), 2); // a cancel
    expect(s.points.at(-1)).toMatchObject({ sold: 2, returned: 1, left: 2 });
  });

  it(`keeps the last ${WINDOW_SECONDS} seconds`, () => {
    let s = record(emptySurge(), at(0), 1000);
    s = record(s, at(500), 999);
    expect(s.points).toHaveLength(WINDOW_SECONDS);
    expect(s.points.at(-1)!.second).toBe(500);
    expect(s.points[0].second).toBe(500 - WINDOW_SECONDS + 1);
  });

  it("does nothing before the first count", () => {
    expect(tick(emptySurge(), at(5)).points).toEqual([]);
  });
});
