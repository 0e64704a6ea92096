// "My waiting list" on the tickets page: each sold-out event the buyer waits for, with their
// place in line and a way out; an entry that became an offer points at its booking below,
// where the countdown and the pay form are (a held booking of the list; a free event's offer
// is accepted there, not paid).
import { useCallback, useEffect, useState } from "react";
import { Anchor, Button, Card, Group, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import { ApiError, api, explain } from "../api";
import type { TicketEvent, WaitlistEntry } from "../api";
import { holdClock } from "../hold";
import { useNow } from "../page";
import { paths } from "../routes";
import { forgetWaitlist, myWaitlist, placeInLine } from "../waitlist";

interface Props {
  token: string;
  /** Read again whenever this changes (the buyer's bookings were read again: an offer
   *  may have been made, taken or ended). */
  version: unknown;
}

export function MyWaitlist({ token, version }: Props) {
  const [entries, setEntries] = useState<WaitlistEntry[]>([]);
  const [events, setEvents] = useState<Record<number, TicketEvent>>({});
  const [leaving, setLeaving] = useState<number | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const now = useNow(1000);

  const read = useCallback(async () => {
    forgetWaitlist();
    try {
      const mine = await myWaitlist(token);
      setEntries(mine);
      const ids = [...new Set(mine.map((e) => e.eventId))];
      const read = await Promise.all(ids.map((id) => api.event(id).catch(() => null)));
      setEvents(Object.fromEntries(read.flatMap((e) => (e ? [[e.id, e]] : []))));
    } catch (e) {
      setProblem(e instanceof ApiError ? explain(e) : String(e));
    }
  }, [token]);
  useEffect(() => {
    void read();
  }, [read, version]);

  const leave = async (eventId: number) => {
    setLeaving(eventId);
    setProblem(null);
    try {
      await api.leaveWaitlist(token, eventId);
      await read();
    } catch (e) {
      setProblem(e instanceof ApiError ? explain(e) : String(e));
    } finally {
      setLeaving(null);
    }
  };

  if (entries.length === 0 && !problem) return null;
  return (
    <Card withBorder data-testid="my-waitlist">
      <Stack gap="xs">
        <Title order={2} size="h4">My waiting list</Title>
        {entries.map((e) => {
          const name = events[e.eventId]?.name ?? `Event ${e.eventId}`;
          const left = e.expiresAt ? holdClock(Date.parse(e.expiresAt) - now) : null;
          const [verb, them] = events[e.eventId]?.priceCents === 0 ? ["accept", "accept them"] : ["pay", "pay for them"];
          return (
            <Group key={e.id} justify="space-between" data-testid="waitlist-entry" data-status={e.status}>
              <div>
                <Anchor component={Link} to={paths.event(e.eventId)} fw={500}>{name}</Anchor>
                <Text size="sm">
                  {e.status === "offered"
                    ? `Seats offered to you${left ? ` — ${left} left to ${verb}` : ""}: ${them} in the booking below.`
                    : placeInLine(e)}
                </Text>
              </div>
              {e.status === "waiting" && (
                <Button variant="light" color="gray" size="xs" loading={leaving === e.eventId}
                  onClick={() => void leave(e.eventId)}>
                  Leave
                </Button>
              )}
            </Group>
          );
        })}
        {problem && <Text size="sm" c="red" role="alert">{problem}</Text>}
      </Stack>
    </Card>
  );
}
