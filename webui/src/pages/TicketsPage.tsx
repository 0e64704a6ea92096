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
  // A failed read; the list read before it (if any) stays on screen.
  const [error, setError] = useState<string | null>(null);
  // A refused cancel, said on its booking; the tickets stay (they are still valid).
  const [cancelError, setCancelError] = useState<{ bookingId: string; text: string } | null>(null);
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
    setCancelError(null);
    try {
      await api.cancel(token, bookingId);
      await load();
    } catch (e) {
      setCancelError({ bookingId, text: e instanceof ApiError ? explain(e) : String(e) });
    } finally {
      setCancelling(null);
      setConfirming(null);
    }
  };

  if (error && tickets === null) {
    return (
      <Alert color="red" title="Tickets could not be loaded">
        {error}
        <Button mt="sm" size="xs" variant="light" color="red" onClick={() => void load()}>Try again</Button>
      </Alert>
    );
  }
  if (tickets === null) return <Text c="dimmed">Loading your tickets…</Text>;
  if (tickets.length === 0) return <Text c="dimmed">You have no tickets yet.</Text>;

  const bookings = new Map<string, Ticket[]>();
  for (const t of tickets) bookings.set(t.bookingId, [...(bookings.get(t.bookingId) ?? []), t]);

  return (
    <Stack>
      {error && (
        <Alert color="yellow" title="Could not refresh your tickets" withCloseButton
          closeButtonLabel="Close" onClose={() => setError(null)}>
          {error} This list is from a moment ago.
        </Alert>
      )}
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
              <Stack gap={4} align="flex-end">
                <Text size="sm">Give up {group.length > 1 ? "these seats" : "this seat"}?</Text>
                <Group gap="xs" wrap="nowrap">
                  <Button color="red" loading={cancelling === bookingId}
                    onClick={() => void cancel(bookingId)}>
                    Yes, cancel
                  </Button>
                  <Button variant="default" disabled={cancelling === bookingId}
                    onClick={() => setConfirming(null)}>
                    Keep
                  </Button>
                </Group>
              </Stack>
            ) : (
              <Button variant="light" color="red" onClick={() => setConfirming(bookingId)}>
                Cancel booking
              </Button>
            )}
          </Group>
          {cancelError?.bookingId === bookingId && (
            <Alert mt="sm" color="red" title="Not cancelled" role="alert" withCloseButton
              closeButtonLabel="Close" onClose={() => setCancelError(null)}>
              {cancelError.text} Your tickets below are still valid.
            </Alert>
          )}
          <Group mt="sm" gap="xs">
            {group.map((t) => (
              <Code key={t.id} data-testid="ticket-code" style={{ whiteSpace: "nowrap" }}>{t.code}</Code>
            ))}
          </Group>
        </Card>
      ))}
    </Stack>
  );
}
