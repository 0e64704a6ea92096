// The organizer's "Cancel event": asked once more in a dialog (it cannot be undone: every
// booking goes void and every paid one is refunded), then said in plain words.
import { useState } from "react";
import { Alert, Button, Card, Group, Modal, Stack, Text, Title } from "@mantine/core";
import { ApiError, api, explain } from "../api";
import type { TicketEvent } from "../api";

interface Props {
  token: string;
  event: TicketEvent;
}

export function CancelEvent({ token, event }: Props) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(event.status === "cancelled");

  const cancel = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.cancelEvent(token, event.id);
      setDone(true);
      setAsking(false);
    } catch (e) {
      setError(e instanceof ApiError ? explain(e) : String(e));
    } finally {
      setBusy(false);
    }
  };

  if (done) {
    return (
      <Alert color="gray" title="This event is cancelled" data-testid="event-cancelled">
        Every booking is void and nothing more can be booked; buyers who paid are refunded in full
        and told by email.
      </Alert>
    );
  }
  return (
    <Card withBorder component="section" aria-labelledby="cancel-event-title">
      <Stack gap="xs">
        <Title order={3} size="h4" id="cancel-event-title">Cancel the event</Title>
        <Text size="sm">Voids every booking and refunds every buyer who paid. It cannot be undone.</Text>
        <Group>
          <Button color="red.9" variant="outline" onClick={() => setAsking(true)}>Cancel event</Button>
        </Group>
      </Stack>
      <Modal opened={asking} onClose={() => setAsking(false)} title={`Cancel ${event.name}?`}>
        <Stack>
          <Text size="sm">
            All {event.totalTickets - Math.max(0, event.availableTickets)} seats sold or held
            go void, the waiting list closes, and every paid booking is refunded. This cannot be undone.
          </Text>
          {error && <Text size="sm" c="red.9" role="alert">{error}</Text>}
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setAsking(false)}>Keep the event</Button>
            <Button color="red.9" loading={busy} onClick={() => void cancel()}>Yes, cancel it</Button>
          </Group>
        </Stack>
      </Modal>
    </Card>
  );
}
