// An event's own page (/events/{id}), the one to share: name, venue, date with the weekday,
// organizer, description, seats left live, a countdown to the sale opening (inside the waiting
// room's panel when it has one), and the booking panel.
import { useCallback, useEffect, useState } from "react";
import { Alert, Anchor, Badge, Card, Group, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import { ApiError, api, explain } from "../api";
import type { TicketEvent } from "../api";
import type { BookingUpdates } from "../booking";
import { BookingPanel } from "../components/BookingPanel";
import { QueuePanel } from "../components/QueuePanel";
import { SaleCountdown } from "../components/SaleCountdown";
import { WaitlistPanel } from "../components/WaitlistPanel";
import { STATUS, SeatsLeft } from "../components/EventCard";
import { liveStatus } from "../status";
import { longDate } from "../dates";
import { useTitle } from "../page";
import { paths } from "../routes";
import type { QueueFeed, StockFeed } from "../stream";

interface Props {
  eventId: number;
  /** The event as the shell's live list has it, when listed. */
  listed: TicketEvent | undefined;
  token: string | null;
  updates: BookingUpdates;
  stock: StockFeed;
  queue: QueueFeed;
  mine: number;
  onAskLogin: () => void;
  onBooked: () => void;
}

export function EventPage({ eventId, listed, token, updates, stock, queue, mine, onAskLogin, onBooked }: Props) {
  const [read, setRead] = useState<TicketEvent | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  // Read once for what the list does not carry (the organizer, the description), and for an event the list
  // does not hold; its seats then follow the stream.
  const load = useCallback(async () => {
    try {
      setRead(await api.event(eventId));
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, "network_error", String(e)));
    }
  }, [eventId]);
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => stock.listen((u) => {
    if (u.eventId === eventId) {
      setRead((e) => e && {
        ...e, availableTickets: u.availableTickets,
        status: liveStatus(e.status, u.availableTickets),
      });
    }
  }), [stock, eventId]);

  const event = listed ? { ...listed, organizer: read?.organizer, description: read?.description } : read;
  useTitle(event ? event.name : error ? "Event not found" : "Event");

  if (!event) {
    if (error?.code === "not_found") {
      return <Alert color="yellow" title="No such event">This event does not exist, or was removed.{" "}
        <Anchor component={Link} to={paths.events}>See all events</Anchor></Alert>;
    }
    if (error) return <Alert color="red" title="The event could not be loaded">{explain(error)}</Alert>;
    return <Text c="dimmed">Loading the event…</Text>;
  }
  const status = STATUS[event.status];
  const opensLater = event.saleStartsAt !== null && Date.parse(event.saleStartsAt) > Date.now();
  // The page is read again when the sale opens. A room shows the countdown inside its panel.
  const saleCountdown = opensLater && event.saleStartsAt
    ? <SaleCountdown opensAt={event.saleStartsAt} onOpen={() => void load()} /> : null;
  // A cancelled event's room is closed: its page offers nothing to join or book.
  const room = event.waitingRoom?.enabled && event.status !== "cancelled";
  return (
    <Stack>
      <Anchor component={Link} to={paths.events} size="sm">← All events</Anchor>
      <Card withBorder padding="lg" radius="md" data-testid={`event-${event.id}`}>
        <Stack gap="sm">
          <Group justify="space-between" align="flex-start" wrap="nowrap">
            <Title order={2}>{event.name}</Title>
            <Badge color={status.color} style={{ flexShrink: 0 }}>{status.label}</Badge>
          </Group>
          <dl className="facts">
            <dt>When</dt>
            <dd data-testid="event-date">{event.startsAt ? longDate(event.startsAt) : "To be announced"}</dd>
            <dt>Where</dt>
            <dd>{event.venue ?? "To be announced"}</dd>
            {event.organizer && (<><dt>Organizer</dt><dd data-testid="organizer">{event.organizer}</dd></>)}
          </dl>
          {event.description && (
            // Plain text: React escapes it, and the class keeps its line breaks.
            <Text className="description" data-testid="event-description">{event.description}</Text>
          )}
          <SeatsLeft event={event} />
          {!room && saleCountdown}
          {room ? (
            <QueuePanel event={event} token={token} feed={queue} onAskLogin={onAskLogin}
              saleCountdown={saleCountdown}
              waitlist={<WaitlistPanel event={{ ...event, status: "sold_out" }} token={token}
                updates={updates} onAskLogin={onAskLogin} onChanged={onBooked} />}>
              {/* Admitted: the room admits only once the sale has opened. */}
              <BookingPanel event={{ ...event, status: event.status === "sold_out" ? "sold_out" : "on_sale" }}
                token={token} updates={updates} mine={mine} onAskLogin={onAskLogin} onBooked={onBooked} />
            </QueuePanel>
          ) : (
            <BookingPanel event={event} token={token} updates={updates} mine={mine}
              onAskLogin={onAskLogin} onBooked={onBooked} />
          )}
        </Stack>
      </Card>
    </Stack>
  );
}
