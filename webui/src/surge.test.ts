// The organizer's surge chart: bookings and seats sold per second and seats left, from
// stream counts.
import { describe, expect, it } from "vitest";
import { NONE_HEARD, WINDOW_SECONDS, emptySurge, newBookings, record, startFrom, tick } from "./surge";

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

  it("counts bookings from the actor's running count, not from seats", () => {
    let s = record(emptySurge(), at(100), 50); // seats from the list: no count yet
    s = record(s, at(100, 100), 48, { count: 7, epoch: 3 }); // the first count sets the start
    s = record(s, at(100, 200), 42, { count: 10, epoch: 3 }); // three bookings of two seats
    s = record(s, at(101, 100), 41, { count: 11, epoch: 3 });
    s = record(s, at(101, 200), 40); // an edit's update: seats only, the count stands
    s = record(s, at(101, 300), 38, { count: 13, epoch: 3 });
    expect(s.points.slice(-2).map((p) => [p.second, p.bookings, p.sold])).toEqual(
      [[100, 3, 8], [101, 3, 4]]);
  });

  it("takes a count under a new epoch as bookings since the reload", () => {
    expect(newBookings(null, { count: 5, epoch: 1 })).toBe(0);
    expect(newBookings({ count: 5, epoch: 1 }, { count: 9, epoch: 1 })).toBe(4);
    expect(newBookings({ count: 50, epoch: 1 }, { count: 2, epoch: 2 })).toBe(2);
    expect(newBookings({ count: 9, epoch: 1 }, { count: 8, epoch: 1 })).toBe(0);
    expect(newBookings(NONE_HEARD, { count: 3, epoch: 7 })).toBe(3); // the event's first count
  });

  it("starts from the event read, and mends a frame that came before it", () => {
    let s = startFrom(record(emptySurge(), at(100), 50), { count: 4, epoch: 2 });
    s = record(s, at(100, 100), 46, { count: 6, epoch: 2 });
    expect(s.points.at(-1)!.bookings).toBe(2);
    // A frame before the read: its count is the start until the read says where it stood.
    let late = record(record(emptySurge(), at(100), 50), at(100, 100), 44, { count: 3, epoch: 2 });
    expect(late.points.at(-1)!.bookings).toBe(0);
    late = startFrom(late, NONE_HEARD);
    late = record(late, at(100, 200), 42, { count: 4, epoch: 2 });
    expect(late.points.at(-1)!.bookings).toBe(4);
    expect(startFrom(late, NONE_HEARD)).toBe(late); // once only
  });

  it("does nothing before the first count", () => {
    expect(tick(emptySurge(), at(5)).points).toEqual([]);
  });
});
