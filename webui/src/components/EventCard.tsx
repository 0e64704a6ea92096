// One event as a buyer sees it: live seats left, and the Book button with its progress.
import { useState } from "react";
import {
  Alert, Badge, Button, Card, Code, Group, Loader, NumberInput, Progress, Stack, Text, Title,
} from "@mantine/core";
import type { TicketEvent } from "../api";
import { explain } from "../api";
import { useBookingAttempt } from "../booking";
import type { BookingUpdates } from "../booking";
import { wholeNumber } from "../numbers";
import type { Typed } from "../numbers";

// Shade 9 of each: white text on it keeps a contrast of at least 4.5:1.
const STATUS: Record<TicketEvent["status"], { label: string; color: string }> = {
  on_sale: { label: "On sale", color: "teal.9" },
  scheduled: { label: "Coming soon", color: "blue.9" },
  sold_out: { label: "Sold out", color: "red.9" },
};

function when(iso: string | null): string | null {
  return iso ? new Date(iso).toLocaleString() : null;
}

interface Props {
  event: TicketEvent;
  token: string | null;
  updates: BookingUpdates;
  onAskLogin: () => void;
}

export function EventCard({ event, token, updates, onAskLogin }: Props) {
  // Exactly what the buyer typed (possibly empty while they type): sent as typed, or refused.
  const [quantity, setQuantity] = useState<Typed>(1);
  const [problem, setProblem] = useState<string | null>(null);
  const { attempt, book, reset } = useBookingAttempt(token, event.id, updates);
  const status = STATUS[event.status];
  const left = Math.max(0, event.availableTickets);
  const busy = attempt.phase === "sending" || attempt.phase === "queued" || attempt.phase === "retrying";
  const startsAt = when(event.startsAt);
  const saleStarts = when(event.saleStartsAt);
  const limit = event.perUserLimit; // null: no limit of this event's own

  // "Sold out" for more seats than are left, while some are: offer those instead.
  const onlyLeft = attempt.phase === "refused" && attempt.error.code === "sold_out"
    && left > 0 && left < (attempt.quantity ?? Infinity) && (limit === null || left <= limit) ? left : null;

  let buttonLabel = "Book";
  if (attempt.phase === "sending") buttonLabel = attempt.retry ? "Trying again…" : "Booking…";
  if (attempt.phase === "queued") buttonLabel = "In the queue…";
  if (attempt.phase === "retrying") buttonLabel = `Retrying in ${attempt.seconds} s…`;

  return (
    <Card withBorder padding="lg" radius="md" data-testid={`event-${event.id}`}>
      <Stack gap="xs">
        <Group justify="space-between" align="flex-start" wrap="nowrap">
          <div style={{ minWidth: 0 }}>
            <Title order={2} size="h3">{event.name}</Title>
            <Text c="dimmed" size="sm">
              {[event.venue, startsAt].filter(Boolean).join(" · ") || "Date to be announced"}
            </Text>
          </div>
          <Badge color={status.color} style={{ flexShrink: 0 }}>{status.label}</Badge>
        </Group>
        <Progress value={event.totalTickets ? (100 * left) / event.totalTickets : 0}
          color={left === 0 ? "red" : "teal"} aria-label="share of seats still on sale" />
        <Text size="sm" data-testid="seats-left" aria-live="polite" aria-atomic="true">
          <b>{left}</b> of {event.totalTickets} {event.totalTickets === 1 ? "seat" : "seats"} left
          {limit !== null && ` · up to ${limit} per buyer`}
        </Text>
        {event.status === "scheduled" && saleStarts && (
          <Text size="sm" c="blue">Sales open {saleStarts}</Text>
        )}
        <Group align="flex-end">
          <NumberInput label="Seats" min={1} max={limit ?? undefined} w={90} value={quantity}
            clampBehavior="none" allowDecimal={false} error={problem !== null}
            onChange={(v) => {
              setQuantity(v);
              setProblem(null);
            }} disabled={busy || event.status !== "on_sale"} />
          <Button leftSection={busy ? <Loader size="xs" color="white" /> : null}
            disabled={busy || event.status !== "on_sale"} aria-busy={busy}
            onClick={() => {
              if (!token) return onAskLogin();
              const seats = wholeNumber(quantity);
              if (seats === null || seats < 1) setProblem("Enter how many seats you want (a whole number, 1 or more).");
              else if (limit !== null && seats > limit) {
                setProblem(`You can book at most ${limit} seat${limit === 1 ? "" : "s"} per buyer.`);
              } else {
                setProblem(null);
                void book(seats);
              }
            }}>
            {buttonLabel}
          </Button>
        </Group>
        {problem && <Text size="sm" c="red" role="alert">{problem}</Text>}
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
            {attempt.booking.quantity} seat{attempt.booking.quantity > 1 ? "s" : ""} confirmed.
            {attempt.booking.tickets.length > 0 ? (
              <>
                {" "}Ticket code{attempt.booking.tickets.length > 1 ? "s" : ""}:{" "}
                {attempt.booking.tickets.map((t) => (
                  <Code key={t.id} data-testid="booked-code" mr={4} style={{ whiteSpace: "nowrap" }}>{t.code}</Code>
                ))}
              </>
            ) : " Your ticket codes are on their way."}
          </Alert>
        )}
        {attempt.phase === "refused" && (
          <Alert color="red" title="Not booked" withCloseButton closeButtonLabel="Close" onClose={reset}>
            {onlyLeft !== null ? `Only ${onlyLeft} left.` : explain(attempt.error)}
            {onlyLeft !== null && (
              <Button mt="xs" size="xs" display="block" onClick={() => {
                setQuantity(onlyLeft);
                void book(onlyLeft);
              }}>
                Book {onlyLeft}
              </Button>
            )}
          </Alert>
        )}
      </Stack>
    </Card>
  );
}
