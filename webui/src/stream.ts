// One Server-Sent Events connection per page: live seat counts for everyone, and the
// signed-in user's booking outcomes. A signed-in page opens it with a stream ticket fetched
// just before (EventSource cannot send headers, and the access token must not travel in a
// URL); a ticket lives 30 s, so after a drop the page reconnects itself with a fresh one
// instead of letting EventSource retry the old URL. A fresh connection re-reads the list so
// no update is missed meanwhile.
import { useEffect, useRef } from "react";

import { api } from "./api";
import type { QueueEntry } from "./api";

/** Wait before reconnecting, as the server's `retry: 2000` asks. */
const RECONNECT_MS = 2000;

export interface StockUpdate {
  eventId: number;
  availableTickets: number;
  /** From the event's owning actor: bookings taken since it loaded the event, under
   *  `bookingsEpoch` (absent from an edit's update). */
  bookings?: number;
  bookingsEpoch?: number;
}

export interface BookingUpdate {
  id: string;
  eventId: number;
  status: "confirmed" | "rejected" | "cancelled" | "pending" | "held" | "expired";
  reason: string | null;
  quantity: number;
}

export interface StreamHandlers {
  onStock?: (update: StockUpdate) => void;
  onBooking?: (update: BookingUpdate) => void;
  /** A waiting-room entry of this user changed (its status, or its position's band). */
  onQueue?: (update: QueueEntry) => void;
  onOpen?: () => void;
  /** The connection dropped; EventSource is already trying again. */
  onError?: () => void;
}

export function useEventStream(token: string | null, handlers: StreamHandlers): void {
  // Handlers change every render; the connection must not.
  const latest = useRef(handlers);
  latest.current = handlers;

  useEffect(() => {
    let source: EventSource | null = null;
    let timer: number | undefined;
    let stopped = false;

    const reconnect = () => {
      latest.current.onError?.();
      source?.close();
      if (!stopped) timer = window.setTimeout(() => void open(), RECONNECT_MS);
    };

    const open = async () => {
      let url = "/api/stream";
      if (token) {
        try {
          const { ticket } = await api.streamTicket(token);
          url = `/api/stream?ticket=${encodeURIComponent(ticket)}`;
        } catch {
          reconnect();
          return;
        }
      }
      if (stopped) return;
      source = new EventSource(url);
      source.onopen = () => latest.current.onOpen?.();
      source.onerror = reconnect;
      source.addEventListener("stock", (e) => {
        latest.current.onStock?.(JSON.parse((e as MessageEvent<string>).data) as StockUpdate);
      });
      source.addEventListener("booking", (e) => {
        latest.current.onBooking?.(JSON.parse((e as MessageEvent<string>).data) as BookingUpdate);
      });
      source.addEventListener("queue", (e) => {
        latest.current.onQueue?.(JSON.parse((e as MessageEvent<string>).data) as QueueEntry);
      });
    };

    void open();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      source?.close();
    };
  }, [token]);
}

/** Hands every update of one kind from the page's one stream to whoever listens. */
export class Feed<T> {
  private listeners = new Set<(update: T) => void>();

  /** Listen; returns the way to stop. */
  listen(listener: (update: T) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  deliver(update: T): void {
    for (const listener of this.listeners) listener(update);
  }
}

/** Stock updates, for an event's page and the organizer's live chart (besides the list the
 *  shell keeps). */
export class StockFeed extends Feed<StockUpdate> {}

/** The user's waiting-room entries as they change, for the event page's waiting room. */
export class QueueFeed extends Feed<QueueEntry> {}
