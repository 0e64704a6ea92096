// "My Tickets": every ticket the signed-in buyer holds, grouped by booking, with cancel.
import { useCallback, useEffect, useState } from "react";
import { Alert, Button, Card, Code, Group, Stack, Text, Title } from "@mantine/core";
import { ApiError, api, explain } from "../api";
import type { Ticket } from "../api";

interface Props {
  token: string;
  /** Bumped by the parent when a booking of this user changed, to re-read the list. */
  version: number;
}

export function TicketsPage({ token, version }: Props) {
  const [tickets, setTickets] = useState<Ticket[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState<string | null>(null);
  // Cancelling gives the seats to the next buyer at once: ask before doing it.
  const [confirming, setConfirming] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setTickets(await api.myTickets(token));
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? explain(e) : String(e));
    }
  }, [token]);

  useEffect(() => {
    void load();
  }, [load, version]);

  const cancel = async (bookingId: string) => {
    setCancelling(bookingId);
    try {
      await api.cancel(token, bookingId);
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? explain(e) : String(e));
    } finally {
      setCancelling(null);
      setConfirming(null);
    }
  };

  if (error) return <Alert color="red" title="Tickets could not be loaded">{error}</Alert>;
  if (tickets === null) return <Text c="dimmed">Loading your tickets…</Text>;
  if (tickets.length === 0) return <Text c="dimmed">You have no tickets yet.</Text>;

  const bookings = new Map<string, Ticket[]>();
  for (const t of tickets) bookings.set(t.bookingId, [...(bookings.get(t.bookingId) ?? []), t]);

  return (
    <Stack>
      {[...bookings.entries()].map(([bookingId, group]) => (
        <Card key={bookingId} withBorder data-testid="booking">
          <Group justify="space-between">
            <div>
              <Title order={4}>{group[0].eventName}</Title>
              <Text size="xs" c="dimmed">
                Booked {new Date(group[0].createdAt).toLocaleString()} · {group.length} seat
                {group.length > 1 ? "s" : ""}
              </Text>
            </div>
            {confirming === bookingId ? (
              <Group gap="xs">
                <Text size="sm">Give up {group.length > 1 ? "these seats" : "this seat"}?</Text>
                <Button color="red" loading={cancelling === bookingId}
                  onClick={() => void cancel(bookingId)}>
                  Yes, cancel
                </Button>
                <Button variant="default" disabled={cancelling === bookingId}
                  onClick={() => setConfirming(null)}>
                  Keep
                </Button>
              </Group>
            ) : (
              <Button variant="light" color="red" onClick={() => setConfirming(bookingId)}>
                Cancel booking
              </Button>
            )}
          </Group>
          <Group mt="sm" gap="xs">
            {group.map((t) => <Code key={t.id} data-testid="ticket-code">{t.code}</Code>)}
          </Group>
        </Card>
      ))}
    </Stack>
  );
}
