// The organizer's live view of an event's waiting room: how many wait in the pre-queue and in
// line, how many were admitted and have not booked yet, how many were admitted in the last
// minute (the admission rate), and the seats left as the room sees them. Read from the API
// (the gateway's memory, no database read) as the section opens and every few seconds.
import { useEffect, useState } from "react";
import { Badge, Group, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { ApiError, api, explain } from "../api";
import type { QueueView } from "../api";
import { Total } from "./Total";

/** How often the view is read again: the line moves by the second in a surge. */
const EVERY_MS = 3000;

interface Props {
  token: string;
  eventId: number;
}

/** The room's state in words: before the opening, open, or closed. */
function stage(view: QueueView): { label: string; color: string } {
  if (view.closed) return { label: "Closed", color: "gray" };
  if (view.opened) return { label: "Admitting", color: "teal.9" };
  return { label: "Pre-queue", color: "blue.9" };
}

export function RoomWatch({ token, eventId }: Props) {
  const [view, setView] = useState<QueueView | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    const read = () => api.queueView(token, eventId).then((v) => {
      setView(v);
      setProblem(null);
    }, (e) => setProblem(e instanceof ApiError ? explain(e) : String(e)));
    void read();
    const timer = window.setInterval(() => void read(), EVERY_MS);
    return () => window.clearInterval(timer);
  }, [token, eventId]);

  const shown = view && stage(view);
  return (
    <Stack gap="xs" component="section" aria-labelledby="room-watch-title" data-testid="room-watch">
      <Group gap="xs">
        <Title order={3} id="room-watch-title">Waiting room</Title>
        {shown && <Badge color={shown.color}>{shown.label}</Badge>}
      </Group>
      {problem && <Text size="sm" c="red" role="alert">{problem}</Text>}
      {view && (
        <SimpleGrid cols={{ base: 2, sm: 5 }}>
          <Total label="In the pre-queue" value={view.prequeued} testId="room-prequeued" />
          <Total label="In line" value={view.waiting} testId="room-waiting" />
          <Total label="Admitted, not booked yet" value={view.admittedUnused} testId="room-unused" />
          <Total label="Admitted in the last minute" value={view.admittedLastMinute} testId="room-rate" />
          <Total label="Seats left" value={view.seatsLeft} testId="room-seats-left" />
        </SimpleGrid>
      )}
    </Stack>
  );
}
