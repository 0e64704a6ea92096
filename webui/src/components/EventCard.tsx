// One event as a buyer sees it on the list: live seats left, and its booking panel. Its name
// links to the event's own page.
import { Anchor, Badge, Card, Group, Progress, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import type { TicketEvent } from "../api";
import { shortDate } from "../dates";
import { paths } from "../routes";
import { BookingPanel } from "./BookingPanel";
import type { BookingPanelProps } from "./BookingPanel";

// Shade 9 of each: white text on it keeps a contrast of at least 4.5:1.
export const STATUS: Record<TicketEvent["status"], { label: string; color: string }> = {
  on_sale: { label: "On sale", color: "teal.9" },
  scheduled: { label: "Coming soon", color: "blue.9" },
  sold_out: { label: "Sold out", color: "red.9" },
  cancelled: { label: "Cancelled", color: "gray.9" },
};

/** "3 of 5 seats left · up to 2 per buyer", announced as it changes. */
export function SeatsLeft({ event }: { event: TicketEvent }) {
  const left = Math.max(0, event.availableTickets);
  return (
    <>
      <Progress value={event.totalTickets ? (100 * left) / event.totalTickets : 0}
        color={left === 0 ? "red" : "teal"} aria-label="share of seats still on sale" />
      <Text size="sm" data-testid="seats-left" aria-live="polite" aria-atomic="true">
        <b>{left}</b> of {event.totalTickets} {event.totalTickets === 1 ? "seat" : "seats"} left
        {event.perUserLimit !== null && ` · up to ${event.perUserLimit} per buyer`}
      </Text>
    </>
  );
}

export function EventCard({ event, token, updates, mine, onAskLogin, onBooked }: BookingPanelProps) {
  const status = STATUS[event.status];
  const startsAt = shortDate(event.startsAt);
  const saleStarts = shortDate(event.saleStartsAt);
  return (
    <Card withBorder padding="lg" radius="md" data-testid={`event-${event.id}`}>
      <Stack gap="xs">
        <Group justify="space-between" align="flex-start" wrap="nowrap">
          <div style={{ minWidth: 0 }}>
            <Title order={2} size="h3">
              <Anchor component={Link} to={paths.event(event.id)} inherit c="inherit">{event.name}</Anchor>
            </Title>
            <Text c="dimmed" size="sm">
              {[event.venue, startsAt].filter(Boolean).join(" · ") || "Date to be announced"}
            </Text>
          </div>
          <Badge color={status.color} style={{ flexShrink: 0 }}>{status.label}</Badge>
        </Group>
        <SeatsLeft event={event} />
        {event.status === "scheduled" && saleStarts && (
          <Text size="sm" c="blue">Sales open {saleStarts}</Text>
        )}
        <BookingPanel event={event} token={token} updates={updates} mine={mine}
          onAskLogin={onAskLogin} onBooked={onBooked} />
      </Stack>
    </Card>
  );
}
