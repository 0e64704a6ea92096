// The booking panel of an event (its card on the list, its own page): how many seats, the
// Book button with its progress, and the answer. The quantity is bounded by the seats left
// and by what this buyer may still add under the event's limit, said before the click.
import { useEffect, useState } from "react";
import { Alert, Button, Code, Group, Loader, NumberInput, Stack, Text } from "@mantine/core";
import { Link } from "react-router";
import type { TicketEvent } from "../api";
import { explain } from "../api";
import { useBookingAttempt } from "../booking";
import type { BookingUpdates } from "../booking";
import { checkQuantity, mostSeats } from "../numbers";
import type { Typed } from "../numbers";
import { paths } from "../routes";
import { HoldPanel } from "./HoldPanel";
import { WaitlistPanel } from "./WaitlistPanel";

export interface BookingPanelProps {
  event: TicketEvent;
  token: string | null;
  updates: BookingUpdates;
  /** Seats this buyer already holds on the event (0 when not signed in or not known). */
  mine: number;
  onAskLogin: () => void;
  /** A booking was confirmed (the buyer's history is read again). */
  onBooked: () => void;
}

const seatWord = (n: number) => (n === 1 ? "seat" : "seats");

export function BookingPanel({ event, token, updates, mine, onAskLogin, onBooked }: BookingPanelProps) {
  // Exactly what the buyer typed (possibly empty while they type): sent as typed, or refused.
  const [quantity, setQuantity] = useState<Typed>(1);
  const [problem, setProblem] = useState<{ text: string; offer: number | null } | null>(null);
  const { attempt, book, reset } = useBookingAttempt(token, event.id, updates);
  const left = Math.max(0, event.availableTickets);
  const limit = event.perUserLimit; // null: no limit of this event's own
  const bounds = { left, limit, mine: token ? mine : 0 };
  const most = mostSeats(bounds);
  const busy = attempt.phase === "sending" || attempt.phase === "queued" || attempt.phase === "retrying";
  const full = token !== null && limit !== null && mine >= limit;
  const closed = event.status !== "on_sale" || full;

  // Confirmed or held: either way the buyer's bookings (and seats held) are read again.
  const confirmedId = attempt.phase === "confirmed" || attempt.phase === "held" ? attempt.booking.id : null;
  useEffect(() => {
    if (confirmedId) onBooked();
  }, [confirmedId, onBooked]);

  // "Sold out" from the server for more seats than are left, while some are: offer those.
  const onlyLeft = attempt.phase === "refused" && attempt.error.code === "sold_out"
    && left > 0 && left < (attempt.quantity ?? Infinity) && (limit === null || left <= limit) ? left : null;

  let buttonLabel = "Book";
  if (attempt.phase === "sending") buttonLabel = attempt.retry ? "Trying again…" : "Booking…";
  if (attempt.phase === "queued") buttonLabel = "In the queue…";
  if (attempt.phase === "retrying") buttonLabel = `Retrying in ${attempt.seconds} s…`;

  const offerButton = (seats: number) => (
    <Button mt="xs" size="xs" display="block" onClick={() => {
      setQuantity(seats);
      setProblem(null);
      void book(seats);
    }}>
      Book {seats}
    </Button>
  );

  // Said before the click: what this buyer may still book.
  let allowance: string | null = null;
  if (token && limit !== null && event.status === "on_sale") {
    allowance = full
      ? `You hold ${mine} ${seatWord(mine)}, the most one buyer may have.`
      : mine > 0 ? `You hold ${mine}; you can book ${Math.min(limit - mine, left)} more.` : null;
  }

  return (
    <Stack gap="xs">
      {allowance && <Text size="sm" data-testid="allowance">{allowance}</Text>}
      <Group align="flex-end">
        <NumberInput label="Seats" min={1} max={most > 0 ? most : undefined} w={90} value={quantity}
          clampBehavior="none" allowDecimal={false} error={problem !== null}
          onChange={(v) => {
            setQuantity(v);
            setProblem(null);
          }} disabled={busy || closed} />
        <Button leftSection={busy ? <Loader size="xs" color="white" /> : null}
          disabled={busy || closed} aria-busy={busy}
          onClick={() => {
            if (!token) return onAskLogin();
            const checked = checkQuantity(quantity, bounds);
            if (!checked.ok) {
              reset(); // the last answer is about another request
              setProblem({ text: checked.problem, offer: checked.offer });
            }
            else {
              setProblem(null);
              void book(checked.seats);
            }
          }}>
          {buttonLabel}
        </Button>
      </Group>
      {problem && (
        <div role="alert">
          <Text size="sm" c="red">{problem.text}</Text>
          {problem.offer !== null && offerButton(problem.offer)}
        </div>
      )}
      {attempt.phase === "queued" && (
        <Alert color="blue" title="You are in the queue">
          Your request is held in line; seats are given out in arrival order. Keep this page
          open — the answer comes in a few seconds.
        </Alert>
      )}
      {attempt.phase === "retrying" && (
        <Alert color="yellow" title="Box office busy">
          {/[.!?]$/.test(attempt.reason) ? attempt.reason : `${attempt.reason}.`} We will send the
          same request again — you cannot be charged twice.
        </Alert>
      )}
      {attempt.phase === "confirmed" && (
        <Alert color="green" title="Booked!" withCloseButton closeButtonLabel="Close" onClose={reset}>
          {attempt.booking.quantity} {seatWord(attempt.booking.quantity)} confirmed.
          {attempt.booking.tickets.length > 0 ? (
            <>
              {" "}Ticket code{attempt.booking.tickets.length > 1 ? "s" : ""}:{" "}
              {attempt.booking.tickets.map((t) => (
                <Code key={t.id} data-testid="booked-code" mr={4} style={{ whiteSpace: "nowrap" }}>{t.code}</Code>
              ))}
            </>
          ) : " Your ticket codes are on their way."}
          <Text size="sm" mt={4}>
            <Link to={paths.ticket(attempt.booking.id)}>Show the tickets</Link>
          </Text>
        </Alert>
      )}
      {attempt.phase === "held" && token && (
        <HoldPanel key={attempt.booking.id} token={token} booking={attempt.booking} updates={updates}
          onSettled={onBooked} />
      )}
      {event.status === "sold_out" && (
        <WaitlistPanel event={event} token={token} updates={updates} onAskLogin={onAskLogin}
          onChanged={onBooked} />
      )}
      {attempt.phase === "refused" && (
        <Alert color="red" title="Not booked" withCloseButton closeButtonLabel="Close" onClose={reset}>
          {onlyLeft !== null ? `Only ${onlyLeft} left — book ${onlyLeft}?` : explain(attempt.error)}
          {onlyLeft !== null && offerButton(onlyLeft)}
        </Alert>
      )}
    </Stack>
  );
}
