// The HTTP contract of docs/api.md, typed. Every failure becomes an ApiError carrying
// the server's stable error code, so the UI decides on codes, never on message text.

export type Role = "USER" | "VENDOR" | "ADMIN";

export interface User {
  id: number;
  email: string;
  role: Role;
  name?: string | null;
}

export interface Session {
  token: string;
  user: User;
  /** Epoch milliseconds after which the token is refused. */
  expiresAt: number;
}

export interface TicketEvent {
  id: number;
  name: string;
  venue: string | null;
  startsAt: string | null;
  totalTickets: number;
  availableTickets: number;
  /** Most seats one buyer may hold; null: no limit of its own. */
  perUserLimit: number | null;
  saleStartsAt: string | null;
  vendorId: number;
  status: "scheduled" | "on_sale" | "sold_out" | "cancelled";
  /** Per seat, in the currency's minor unit (0: free), and the currency (ISO 4217). */
  priceCents?: number;
  currency?: string;
  /** When its organizer cancelled it (every booking void, the paid ones refunded). */
  cancelledAt?: string | null;
  /** GET /api/events/{id} only: the organizer's display name, when they gave one. */
  organizer?: string;
  /** Not in the list (GET /api/events/{id} and edits only): plain text, "" when none. */
  description?: string;
  /** GET /api/events/{id} only: the stream's latest booking count of the event, once heard. */
  bookings?: number;
  bookingsEpoch?: number;
  /** GET /api/events/{id}, for its vendor or an admin only: tickets checked in at the door,
   *  and what its buyers paid and kept paid (minor units of `currency`). */
  checkedIn?: number;
  revenueCents?: number;
  /** When enabled, booking needs an admission from the event's waiting room. */
  waitingRoom?: WaitingRoom;
}

export interface WaitingRoom {
  enabled: boolean;
  admitPerMinute: number | null;
  /** Admitted-but-unused buyers at most, per seat left. */
  admitFactor: number;
  queueOpensAt: string | null;
  admissionSeconds: number;
}

export type QueueStatus = "prequeue" | "waiting" | "admitted" | "used" | "expired" | "closed" | "pending";

/** An event's waiting room as its organizer watches it (GET /api/events/{id}/queue). */
export interface QueueView {
  eventId: number;
  opened: boolean;
  closed: boolean;
  prequeued: number;
  waiting: number;
  /** Admitted buyers who have neither booked nor expired. */
  admittedUnused: number;
  /** Admissions given in the last 60 s: the admission rate. */
  admittedLastMinute: number;
  seatsLeft: number;
}

/** A place in an event's waiting room (POST /api/events/{id}/queue, GET /api/queue/{id}, and
 *  the stream's `queue` events). */
export interface QueueEntry {
  queueId: string;
  eventId: number;
  status: QueueStatus;
  /** `waiting`: 1 is the next to be admitted. */
  position: number | null;
  estimatedWaitSeconds: number | null;
  /** `prequeue`: how many are in the pre-queue. */
  prequeued?: number;
  /** `admitted`: book before this. */
  admissionExpiresAt?: string;
  /** `closed` by the sell-out, when the event keeps a waiting list: where to join it. */
  waitlistUrl?: string;
  refreshAfterSeconds: number;
}

export type BookingStatus = "pending" | "confirmed" | "rejected" | "cancelled" | "held" | "expired";

/** A ticket of a booking; `void` once its booking is cancelled (kept, not valid). */
export interface BookingTicket {
  id: string;
  code: string;
  void?: boolean;
}

export interface Booking {
  id: string;
  eventId: number;
  quantity: number;
  status: BookingStatus;
  reason?: string | null;
  tickets: BookingTicket[];
  /** `held`: when the hold ends unless paid. */
  expiresAt?: string;
  /** `held`: when the engine warns that the end is near (a minute before it, or halfway
   *  through a hold shorter than two minutes); more time is offered from then. */
  warnAt?: string;
  /** A paid event's booking: its price, in the currency's minor unit. */
  amountCents?: number;
  currency?: string;
  /** `pending`: a pay request the provider has not answered yet; `requires_action`: the
   * provider asks the buyer for an extra step (3-D Secure) at `nextAction.url`; the same
   * pay request sent again afterwards (same Idempotency-Key) answers how it ended. */
  payment?: "pending" | "requires_action";
  nextAction?: { url: string };
  /** `held`: its deadline was extended already (once per hold). */
  extended?: boolean;
  /** A paid booking cancelled or expired: the money given back, owed or made. */
  refund?: Refund;
}

/** Money given back for a booking. */
export interface Refund {
  status: "pending" | "refunded";
  amountCents: number;
  currency: string;
  reason: "buyer_cancelled" | "event_cancelled" | "late_payment";
  refundedAt: string | null;
}

/** The caller's place on a sold-out event's waiting list, or the offer it became (its held
 *  booking has the entry's id). `pending`: the join is not decided yet. */
export interface WaitlistEntry {
  id: string;
  eventId: number;
  quantity: number;
  status: "waiting" | "offered" | "left" | "pending";
  /** `waiting`: 1 for the first in line. */
  position: number | null;
  /** `offered`: when the offer ends unless paid (or accepted, on a free event). */
  expiresAt?: string;
}

/** One of an event's door staff (their account's role unchanged). */
export interface StaffMember {
  eventId: number;
  userId: number;
  email: string;
  name: string | null;
}

/** A ticket checked in at the door. */
export interface CheckIn {
  ticket: BookingTicket;
  checkedInAt: string;
}

/** One of the caller's bookings, with what its tickets print of the event. */
export interface MyBooking {
  id: string;
  eventId: number;
  eventName: string;
  venue: string | null;
  startsAt: string | null;
  quantity: number;
  status: BookingStatus;
  createdAt: string;
  tickets: BookingTicket[];
  /** `held`: when the hold ends unless paid. */
  expiresAt?: string;
  /** `held`: when the engine warns that the end is near, as in `Booking`. */
  warnAt?: string;
  /** A paid event's booking: its price, in the currency's minor unit. */
  amountCents?: number;
  currency?: string;
}

export interface EventInput {
  name: string;
  /** Plain text in lines, at most 5000 characters. */
  description?: string;
  totalTickets: number;
  venue?: string | null;
  startsAt?: string | null;
  /** null: no limit per buyer. */
  perUserLimit?: number | null;
  saleStartsAt?: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds the server asked us to wait (429, 503), if it said. */
    readonly retryAfter: number | null = null,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

// Told when the server refuses a token (401): the session it belongs to has ended, whatever
// the reason (signed out elsewhere, role or password changed, account removed, expired).
let onUnauthorized: ((token: string) => void) | null = null;

export function setUnauthorizedHandler(handler: ((token: string) => void) | null): void {
  onUnauthorized = handler;
}

interface Answer<T> {
  status: number;
  data: T;
}

async function call<T>(method: string, path: string, options: {
  token?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
} = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, "network_error", "The server cannot be reached. Check your connection.");
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && options.token) onUnauthorized?.(options.token);
    const body = (data ?? {}) as Record<string, unknown>;
    const retry = Number(response.headers.get("Retry-After"));
    throw new ApiError(
      response.status,
      typeof body.error === "string" ? body.error : `http_${response.status}`,
      typeof body.message === "string" ? body.message : response.statusText,
      Number.isFinite(retry) && retry > 0 ? retry : null,
      body,
    );
  }
  return { status: response.status, data: data as T };
}

export const api = {
  register: (email: string, password: string, name?: string) =>
    call<User>("POST", "/api/auth/register", { body: { email, password, ...(name ? { name } : {}) } })
      .then((a) => a.data),

  login: async (email: string, password: string): Promise<Session> => {
    const { data } = await call<{ token: string; expiresIn: number; user: User }>(
      "POST", "/api/auth/login", { body: { email, password } });
    return { token: data.token, user: data.user, expiresAt: Date.now() + data.expiresIn * 1000 };
  },

  /** Ends this session on the server: the token is refused from then on, everywhere. */
  logout: (token: string) => call<null>("POST", "/api/auth/logout", { token }).then(() => undefined),

  events: () => call<TicketEvent[]>("GET", "/api/events").then((a) => a.data),

  /** One event, with its organizer's name. */
  /** One event; with its organizer's (or an admin's) token, their totals too. */
  event: (id: number, token?: string) =>
    call<TicketEvent>("GET", `/api/events/${id}`, { token }).then((a) => a.data),

  /** Created once per key: the same key again answers the event the first request made. */
  createEvent: (token: string, input: EventInput, idempotencyKey: string) =>
    call<TicketEvent>("POST", "/api/events", {
      token, body: input, headers: { "Idempotency-Key": idempotencyKey },
    }).then((a) => a.data),

  updateEvent: (token: string, id: number, input: Partial<EventInput>) =>
    call<TicketEvent>("PATCH", `/api/events/${id}`, { token, body: input }).then((a) => a.data),

  /** 201 confirmed or 202 pending; rejections arrive as ApiError (409, 422, 429, 503). */
  book: (token: string, eventId: number, quantity: number, idempotencyKey: string) =>
    call<Booking>("POST", `/api/events/${eventId}/book`, {
      token, body: { quantity }, headers: { "Idempotency-Key": idempotencyKey },
    }),

  booking: (token: string, id: string) =>
    call<Booking>("GET", `/api/bookings/${id}`, { token }).then((a) => a.data),

  /** The caller's bookings, newest first, cancelled ones with their tickets void. */
  myBookings: (token: string) =>
    call<MyBooking[]>("GET", "/api/me/bookings", { token }).then((a) => a.data),

  cancel: (token: string, id: string) =>
    call<Booking>("POST", `/api/bookings/${id}/cancel`, { token }).then((a) => a.data),

  /** Pay a held booking: 200 confirmed, 202 still processing; declined (402) or over
   *  (409 hold_expired / not_payable) arrive as ApiError. A free hold (amount 0: a free
   *  event's waiting-list offer) is accepted the same way, with no token (`null`). */
  pay: (token: string, id: string, paymentToken: string | null, idempotencyKey: string) =>
    call<Booking>("POST", `/api/bookings/${id}/pay`, {
      token, body: paymentToken === null ? {} : { paymentToken },
      headers: { "Idempotency-Key": idempotencyKey },
    }),

  /** More time on a held booking, once: the booking with its new `expiresAt` (409
   *  already_extended / hold_expired / not_extendable arrive as ApiError). */
  extend: (token: string, id: string) =>
    call<Booking>("POST", `/api/bookings/${id}/extend`, { token }).then((a) => a.data),
  /** Its organizer cancels the whole event: every booking void, the paid ones refunded. */
  cancelEvent: (token: string, id: number) =>
    call<TicketEvent>("POST", `/api/events/${id}/cancel`, { token }).then((a) => a.data),

  /** Join a sold-out event's waiting list (201 new, 200 joined already: the same entry). */
  joinWaitlist: (token: string, eventId: number, quantity: number) =>
    call<WaitlistEntry>("POST", `/api/events/${eventId}/waitlist`, { token, body: { quantity } })
      .then((a) => a.data),

  leaveWaitlist: (token: string, eventId: number) =>
    call<WaitlistEntry>("DELETE", `/api/events/${eventId}/waitlist`, { token }).then((a) => a.data),

  /** The caller's entries: waiting (with positions), or offered with the offer open. */
  myWaitlist: (token: string) =>
    call<WaitlistEntry[]>("GET", "/api/me/waitlist", { token }).then((a) => a.data),

  /** How the engine is set up: which payment provider charges (`fake`: test cards). */
  config: () => call<{ paymentProvider: string }>("GET", "/api/config").then((a) => a.data),

  /** The fake provider's bank step (`nextAction.url` of a `tok_action` charge), ended as the
   *  buyer chose; 409 action_not_pending when it had ended already. */
  endFakeBankStep: (url: string, outcome: "succeeded" | "failed") =>
    call<{ status: string }>("POST", url, { body: { outcome } }).then((a) => a.data),

  /** Check a ticket in at the door; already checked in, unknown or void arrive as ApiError. */
  checkIn: (token: string, eventId: number, code: string) =>
    call<CheckIn>("POST", `/api/events/${eventId}/checkin`, { token, body: { code } })
      .then((a) => a.data),

  staff: (token: string, eventId: number) =>
    call<StaffMember[]>("GET", `/api/events/${eventId}/staff`, { token }).then((a) => a.data),

  addStaff: (token: string, eventId: number, email: string) =>
    call<StaffMember>("POST", `/api/events/${eventId}/staff`, { token, body: { email } })
      .then((a) => a.data),

  removeStaff: (token: string, eventId: number, userId: number) =>
    call<null>("DELETE", `/api/events/${eventId}/staff/${userId}`, { token }).then(() => undefined),

  /** Join an event's waiting room: 201 a new entry, 200 the active one; refusals
   *  (queue_not_open, queue_closed) arrive as ApiError. */
  joinQueue: (token: string, eventId: number) =>
    call<QueueEntry>("POST", `/api/events/${eventId}/queue`, { token }).then((a) => a.data),

  queueEntry: (token: string, queueId: string) =>
    call<QueueEntry>("GET", `/api/queue/${queueId}`, { token }).then((a) => a.data),

  /** The organizer's view of an event's waiting room (its vendor or an ADMIN). */
  queueView: (token: string, eventId: number) =>
    call<QueueView>("GET", `/api/events/${eventId}/queue`, { token }).then((a) => a.data),

  /** A ticket that opens this user's event stream for the next few seconds. */
  streamTicket: (token: string) =>
    call<{ ticket: string; expiresIn: number }>("POST", "/api/stream/ticket", { token })
      .then((a) => a.data),

};

/** What a buyer should read for a refusal, by stable error code. */
export function explain(error: ApiError): string {
  switch (error.code) {
    case "sold_out":
      return "Sold out — every seat is taken.";
    case "limit_exceeded":
      return "That would take you past this event's limit per buyer.";
    case "not_on_sale":
      return "Sales have not opened yet.";
    case "admission_required":
      return "This sale has a waiting room: join it, and book when it is your turn.";
    case "admission_expired":
      return "Your turn to book ran out. Join the waiting room again.";
    case "queue_not_open":
      return "The waiting room has not opened yet.";
    case "queue_closed":
      return "Sold out — the waiting room has closed.";
    case "invalid_quantity":
      return "That many seats cannot be booked at once. Ask for fewer.";
    case "rate_limited":
      return `Too many requests. Try again in ${error.retryAfter ?? 1} s.`;
    case "unavailable":
    case "overloaded":
      return "The box office is overloaded right now. Try again in a moment.";
    case "outcome_unknown":
      return "The box office lost track of whether that went through. Check before doing it again — pressing the same button again is safe.";
    case "weak_password": {
      const suggestions = error.body.suggestions;
      return [error.message, ...(Array.isArray(suggestions) ? suggestions : [])].join(" ");
    }
    case "payment_declined":
      return "Your card was declined. Nothing was charged; your seats stay held until the timer runs out, so you can try another card.";
    case "hold_expired":
      return "Time ran out: your hold ended and the seats went back on sale.";
    case "not_payable":
      return "This booking can no longer be paid (it was cancelled or has ended).";
    case "already_extended":
      return "This hold was extended once already; it cannot be extended again.";
    case "refund_window_closed":
      return "This paid booking can no longer be cancelled: the event's refund period is over.";
    case "event_cancelled":
      return "This event was cancelled by its organizer.";
    case "not_sold_out":
      return "Seats are on sale again: book them instead.";
    case "waitlist_closed":
      return "This event keeps no waiting list.";
    case "not_waiting":
      return "You are not on this event's waiting list any more.";
    case "waitlist_needs_queued":
      return "This box office keeps no waiting lists.";
    case "unknown_user":
      return "No account has that email. They need to register first.";
    case "unauthenticated":
    case "session_revoked":
      return "Your session has ended. Please log in again.";
    default:
      return error.message || "Something went wrong.";
  }
}
