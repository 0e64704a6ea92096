// A held booking of a paid event: the time left to pay (mm:ss; screen readers hear it once
// a minute, not every second), the amount in its currency, and the pay form. With the fake
// provider the form offers its test cards, marked as such. Every answer is said in plain
// words: paid (the tickets), declined (the hold stays; also when the provider's word comes
// later, on the stream), processing (the result comes on the stream or a re-read), time ran
// out (the seats went back on sale), the bank's extra step (3-D Secure: BankStep) when the
// provider asks for it, left for the card form if the buyer uses another card instead (its
// pay, a new key, cancels the step). A hold that costs nothing (a free event's waiting-list
// offer) has no card form: one button accepts it, the same pay request without a token.
import { useCallback, useEffect, useRef, useState } from "react";
import { Alert, Button, Code, Group, Radio, Stack, Text, TextInput, VisuallyHidden } from "@mantine/core";
import { Link } from "react-router";
import { ApiError, api, explain } from "../api";
import { BankStep } from "./BankStep";
import type { Booking, BookingTicket } from "../api";
import { newKey } from "../booking";
import type { BookingUpdates } from "../booking";
import { holdAnnouncement, holdClock, isFreeHold } from "../hold";
import { formatAmount } from "../money";
import { useNow } from "../page";
import { paths } from "../routes";

/** The fake provider's tokens, as the buyer picks them. */
const TEST_CARDS = [
  { token: "tok_ok", label: "Approved card" },
  { token: "tok_declined", label: "Declined card" },
  { token: "tok_action", label: "Card that asks for a bank step" },
  { token: "tok_timeout", label: "Card whose answer is slow" },
] as const;

/** Re-reads of a payment still processing, in case its push on the stream is lost. */
const POLL_MS = 1500;

// Read once per page: the provider does not change while it runs.
let providerName: Promise<string | null> | null = null;
function paymentProvider(): Promise<string | null> {
  providerName ??= api.config().then((c) => c.paymentProvider, () => {
    providerName = null; // a failed read is tried again by the next form
    return null;
  });
  return providerName;
}

type Phase =
  | { at: "ready" }
  | { at: "paying" }
  | { at: "processing" }
  // The provider asks the buyer for a step at their bank; the same request (key) follows it.
  | { at: "bank"; url: string; key: string; paymentToken: string | null }
  | { at: "declined"; error: ApiError }
  | { at: "confirmed"; tickets: BookingTicket[] }
  | { at: "expired" }
  | { at: "over"; text: string };

interface Props {
  token: string;
  /** The held booking (or one that just expired or was paid). A Book answer and an entry of
   *  `GET /api/me/bookings` carry its deadline and price; one without them is read. */
  booking: Pick<Booking, "id" | "status"> & Partial<Booking>;
  updates: BookingUpdates;
  /** The booking was paid or ended: the buyer's bookings are read again. */
  onSettled: () => void;
}

export function HoldPanel({ token, booking: given, updates, onSettled }: Props) {
  // Kept here because an extension moves the deadline (the answer to /extend).
  const [booking, setBooking] = useState<Partial<Booking> & { id: string }>(given);
  // A booking already expired (a page opened after, a list re-read) says so at once; one
  // already paid (the panel mounted again after the list's re-read) says it was paid.
  const [phase, setPhase] = useState<Phase>(() => {
    if (given.status === "expired") return { at: "expired" };
    if (given.status === "confirmed" && given.tickets) return { at: "confirmed", tickets: given.tickets };
    return { at: "ready" };
  });
  const [provider, setProvider] = useState<string | null | undefined>(undefined);
  const [card, setCard] = useState<string>("tok_ok");
  const [typed, setTyped] = useState("");
  const now = useNow(1000);
  const alive = useRef(true);
  useEffect(() => () => {
    alive.current = false;
  }, []);
  const id = given.id;

  useEffect(() => {
    void paymentProvider().then((name) => alive.current && setProvider(name));
  }, []);

  // A booking handed over without its deadline, warning time or price (an offer as the
  // stream announced it) is read once; a list's entry and a Book answer carry them all.
  const missing = booking.expiresAt === undefined || booking.warnAt === undefined
    || booking.amountCents === undefined;
  // Until its price is read the form waits (a free hold has none); a failed read shows the
  // pay form, which a free hold takes too (the engine charges nothing for it).
  const [readFailed, setReadFailed] = useState(false);
  useEffect(() => {
    if (!missing) return;
    void api.booking(token, id).then((b) => alive.current && setBooking(b),
      () => alive.current && setReadFailed(true));
  }, [missing, token, id]);
  const free = isFreeHold(booking);
  const priced = booking.amountCents !== undefined || readFailed;

  // What became of the booking, from the stream or a re-read.
  const settle = useCallback((b: Booking) => {
    if (!alive.current) return;
    if (b.status === "confirmed") {
      if (b.tickets.length > 0) {
        setPhase({ at: "confirmed", tickets: b.tickets });
        onSettled();
      } else {
        // The stream carries no ticket codes: read them.
        void api.booking(token, b.id).then((full) => settle(full), () => undefined);
      }
    } else if (b.status === "expired") {
      setPhase({ at: "expired" });
      onSettled();
    } else if (b.status === "held" && b.reason === "payment_declined") {
      // The provider declined a payment answered "processing", later (its webhook, pushed
      // on the stream): nothing was charged, and the hold stays for another card.
      setPhase({ at: "declined", error: new ApiError(402, "payment_declined", "declined") });
    } else if (b.status !== "held" && b.status !== "pending") {
      setPhase({ at: "over", text: "This booking was cancelled; nothing is held any more." });
      onSettled();
    }
  }, [token, onSettled]);

  useEffect(() => updates.wait(id, settle), [updates, id, settle]);

  // Still processing: re-read until the answer, in case the stream's push is lost.
  const processing = phase.at === "processing";
  useEffect(() => {
    if (!processing) return;
    const timer = window.setInterval(() => {
      void api.booking(token, id).then(settle, () => undefined);
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [processing, token, id, settle]);

  const left = booking.expiresAt ? Date.parse(booking.expiresAt) - now : null;
  const ranOut = left !== null && left <= 0;
  const open = phase.at === "ready" || phase.at === "declined" || phase.at === "paying"
    || phase.at === "bank";
  // The deadline passed by this browser's clock: the engine expires the hold on its own; read
  // the booking once to hear it (the stream says so too).
  useEffect(() => {
    if (ranOut && open) {
      setPhase({ at: "expired" });
      void api.booking(token, id).then(settle, () => undefined);
    }
  }, [ranOut, open, token, id, settle]);

  // From the engine's warning time (`warnAt`: a minute before the deadline, or halfway
  // through a shorter hold) the buyer may ask, once, for more time (WCAG 2.2.1: timing
  // adjustable). The page follows the engine's rule rather than a rule of its own.
  const [extending, setExtending] = useState(false);
  const [extendError, setExtendError] = useState<string | null>(null);
  const warnAt = booking.warnAt ? Date.parse(booking.warnAt) : null;
  const warned = left !== null && left > 0 && warnAt !== null && now >= warnAt && open;
  const lead = booking.expiresAt && warnAt !== null ? Date.parse(booking.expiresAt) - warnAt : 0;
  const extend = async () => {
    setExtending(true);
    setExtendError(null);
    try {
      const longer = await api.extend(token, id);
      if (alive.current) setBooking((b) => ({ ...b, ...longer }));
    } catch (e) {
      if (alive.current) setExtendError(e instanceof ApiError ? explain(e) : String(e));
    } finally {
      if (alive.current) setExtending(false);
    }
  };

  /** Send the pay request (`key`: a retry sends the same one) and act on its answer. */
  const send = async (paymentToken: string | null, key: string) => {
    try {
      const { status, data } = await api.pay(token, id, paymentToken, key);
      if (!alive.current) return;
      if (status === 202 && data.payment === "requires_action" && data.nextAction) {
        setPhase({ at: "bank", url: data.nextAction.url, key, paymentToken });
      } else if (status === 202) setPhase({ at: "processing" });
      else settle(data);
    } catch (e) {
      if (!alive.current) return;
      const error = e instanceof ApiError ? e : new ApiError(0, "network_error", String(e));
      if (error.code === "hold_expired") {
        setPhase({ at: "expired" });
        onSettled();
      } else if (error.code === "not_payable") {
        setPhase({ at: "over", text: explain(error) });
        onSettled();
      } else {
        setPhase({ at: "declined", error });
      }
    }
  };

  // Back from the bank step to the card form: the button that did it is gone, so the focus
  // goes to the card the buyer had picked (or the token field), where they choose anew.
  const form = useRef<HTMLFormElement>(null);
  const [backFromBank, setBackFromBank] = useState(false);
  useEffect(() => {
    if (!backFromBank || !form.current) return;
    const inputs = form.current;
    (inputs.querySelector<HTMLInputElement>("input:checked")
      ?? inputs.querySelector<HTMLInputElement>("input"))?.focus();
    setBackFromBank(false);
  }, [backFromBank]);

  const pay = async () => {
    // Nothing to charge for a free hold: no token, and the engine confirms it.
    const paymentToken = free ? null : provider === "fake" ? card : typed.trim();
    if (paymentToken === "") return;
    setPhase({ at: "paying" });
    await send(paymentToken, newKey());
  };

  if (phase.at === "confirmed") {
    const tickets = phase.tickets;
    return (
      <Alert color="green" title={free ? "Accepted — you are in!" : "Paid — you are in!"} data-testid="paid">
        {tickets.length} ticket{tickets.length === 1 ? "" : "s"}, code{tickets.length === 1 ? "" : "s"}:{" "}
        {tickets.map((t) => (
          <Code key={t.id} data-testid="paid-code" mr={4} style={{ whiteSpace: "nowrap" }}>{t.code}</Code>
        ))}
        <Text size="sm" mt={4}><Link to={paths.ticket(id)}>Show the tickets</Link></Text>
      </Alert>
    );
  }
  if (phase.at === "expired") {
    return (
      <Alert color="gray" title="Time ran out" role="alert" data-testid="hold-expired">
        {free ? "Your hold ended before it was accepted, and the seats went back on sale."
          : "Your hold ended before it was paid, and the seats went back on sale. Nothing was charged."}
      </Alert>
    );
  }
  if (phase.at === "over") {
    return <Alert color="gray" title="No longer held" role="alert">{phase.text}</Alert>;
  }

  const amount = booking.amountCents !== undefined && booking.currency
    ? formatAmount(booking.amountCents, booking.currency) : null;
  const action = free ? "accept" : "pay";
  const clock = left === null ? null : holdClock(left);
  const announcement = left === null ? null : holdAnnouncement(left, action);
  const seats = booking.quantity;
  return (
    <Alert color="blue" title={free ? "Seats held for you — accept them to confirm" : "Seats held — pay to confirm"}
      data-testid="hold">
      <Stack gap="xs">
        <Text size="sm">
          {seats !== undefined && `${seats} seat${seats === 1 ? "" : "s"} held for you`}
          {free ? <> · <b data-testid="hold-amount">free</b></>
            : amount && <> · total <b data-testid="hold-amount">{amount}</b></>}
        </Text>
        {clock && (
          <Text size="sm" role="timer" aria-live="off" data-testid="hold-countdown">
            Time left to {action}: <b>{clock}</b>
          </Text>
        )}
        {warned && !booking.extended && (
          <Group gap="xs" role="alert" data-testid="hold-warning">
            <Text size="sm">{lead >= 60_000 ? "Less than a minute left."
              : `Less than ${Math.round(lead / 1000)} seconds left.`}</Text>
            <Button size="xs" variant="light" loading={extending} onClick={() => void extend()}>
              Need more time?
            </Button>
          </Group>
        )}
        {booking.extended && (
          <Text size="sm" data-testid="hold-extended">Extended: this hold cannot be extended again.</Text>
        )}
        {extendError && <Text size="sm" c="red.9" role="alert">{extendError}</Text>}
        {/* Said politely, once a minute and near the end, never each second. */}
        <VisuallyHidden aria-live="polite" aria-atomic="true">{announcement}</VisuallyHidden>
        {free && (
          <Group>
            <Button loading={phase.at === "paying"} onClick={() => void pay()}>Accept the seats</Button>
          </Group>
        )}
        {phase.at === "bank" && (
          <BankStep url={phase.url} onCheck={() => send(phase.paymentToken, phase.key)}
            onOtherCard={() => {
              setPhase({ at: "ready" });
              setBackFromBank(true);
            }} />
        )}
        {priced && !free && phase.at !== "bank" && <form ref={form} onSubmit={(e) => {
          e.preventDefault();
          void pay();
        }}>
          <Stack gap="xs">
            {provider === "fake" ? (
              <Radio.Group label="Test card — no money moves" value={card} onChange={setCard}
                description="This engine uses the fake payment provider: pick how the test card answers.">
                <Stack gap={4} mt={4}>
                  {TEST_CARDS.map((c) => (
                    <Radio key={c.token} value={c.token} label={`${c.label} (${c.token})`} />
                  ))}
                </Stack>
              </Radio.Group>
            ) : provider !== undefined && (
              <TextInput label="Payment token" value={typed} onChange={(e) => setTyped(e.currentTarget.value)}
                description="From your payment provider's card form." required />
            )}
            <Group>
              <Button type="submit" loading={phase.at === "paying"} disabled={provider === undefined}>
                {amount ? `Pay ${amount}` : "Pay"}
              </Button>
            </Group>
          </Stack>
        </form>}
        {phase.at === "processing" && (
          <Text size="sm" role="status" data-testid="payment-processing">
            Payment processing… Keep this page open: the answer comes here.
          </Text>
        )}
        {phase.at === "declined" && (
          <Text size="sm" c="red.9" role="alert" data-testid="payment-declined">
            {explain(phase.error)}
          </Text>
        )}
      </Stack>
    </Alert>
  );
}
