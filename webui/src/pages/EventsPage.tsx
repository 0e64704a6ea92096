// The buyer's front page: every event with live seat counts and a Book button.
import { Alert, SimpleGrid, Text } from "@mantine/core";
import type { TicketEvent } from "../api";
import type { BookingUpdates } from "../booking";
import { EventCard } from "../components/EventCard";
import { useTitle } from "../page";

interface Props {
  events: TicketEvent[] | null;
  error: string | null;
  token: string | null;
  updates: BookingUpdates;
  /** Seats the signed-in buyer holds, per event. */
  mine: Map<number, number>;
  onAskLogin: () => void;
  onBooked: () => void;
}

export function EventsPage({ events, error, token, updates, mine, onAskLogin, onBooked }: Props) {
  useTitle("Events");
  if (error) return <Alert color="red" title="Events could not be loaded">{error}</Alert>;
  if (events === null) return <Text c="dimmed">Loading events…</Text>;
  if (events.length === 0) return <Text c="dimmed">No events yet. Organizers add them under “Organize”.</Text>;
  return (
    <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
      {events.map((event) => (
        <EventCard key={event.id} event={event} token={token} updates={updates}
          mine={mine.get(event.id) ?? 0} onAskLogin={onAskLogin} onBooked={onBooked} />
      ))}
    </SimpleGrid>
  );
}
