// One Server-Sent Events connection per page: live seat counts for everyone, and the
// signed-in user's booking outcomes. EventSource reconnects by itself (the server sets
// `retry: 2000`); a fresh connection re-reads the list so no update is missed meanwhile.
import { useEffect, useRef } from "react";

export interface StockUpdate {
  eventId: number;
  availableTickets: number;
}

export interface BookingUpdate {
  id: string;
  eventId: number;
  status: "confirmed" | "rejected" | "cancelled" | "pending";
  reason: string | null;
  quantity: number;
}

export interface StreamHandlers {
  onStock?: (update: StockUpdate) => void;
  onBooking?: (update: BookingUpdate) => void;
  onOpen?: () => void;
  /** The connection dropped; EventSource is already trying again. */
  onError?: () => void;
}

export function useEventStream(token: string | null, handlers: StreamHandlers): void {
  // Handlers change every render; the connection must not.
  const latest = useRef(handlers);
  latest.current = handlers;

  useEffect(() => {
    const url = token ? `/api/stream?token=${encodeURIComponent(token)}` : "/api/stream";
    const source = new EventSource(url);
    source.onopen = () => latest.current.onOpen?.();
    source.onerror = () => latest.current.onError?.();
    source.addEventListener("stock", (e) => {
      latest.current.onStock?.(JSON.parse((e as MessageEvent<string>).data) as StockUpdate);
    });
    source.addEventListener("booking", (e) => {
      latest.current.onBooking?.(JSON.parse((e as MessageEvent<string>).data) as BookingUpdate);
    });
    return () => source.close();
  }, [token]);
}
