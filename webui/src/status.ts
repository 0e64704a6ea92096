// An event's listed status as stock updates move its seats left, between list reads.
import type { TicketEvent } from "./api";

/** The status once a stock update says `available` seats are left: sold out at 0, on sale
 *  again above it; a cancelled event stays cancelled (its seats read 0). */
export function liveStatus(status: TicketEvent["status"], available: number): TicketEvent["status"] {
  if (status === "cancelled") return status;
  return available === 0 ? "sold_out" : status === "sold_out" ? "on_sale" : status;
}
