// The waiting list of a sold-out event: join it for some seats, see your place in line,
// leave it. When seats come back and are offered to you (pushed on the stream under the
// entry's id), the offer is a hold: its countdown and its pay form are the HoldPanel's (a
// free event's offer is accepted there with one button, nothing to pay).
import { useCallback, useEffect, useState } from "react";
import { Button, Group, NumberInput, Stack, Text } from "@mantine/core";
import { ApiError, api, explain } from "../api";
import type { TicketEvent, WaitlistEntry } from "../api";
import type { BookingUpdates } from "../booking";
import { forgetWaitlist, myWaitlist, placeInLine } from "../waitlist";
import { HoldPanel } from "./HoldPanel";

interface Props {
  event: TicketEvent;
  token: string | null;
  updates: BookingUpdates;
  onAskLogin: () => void;
  /** An offer was made, taken or ended: the buyer's bookings are read again. */
  onChanged: () => void;
}

const problemOf = (e: unknown) => (e instanceof ApiError ? explain(e) : String(e));

export function WaitlistPanel({ event, token, updates, onAskLogin, onChanged }: Props) {
  // undefined: not read yet; null: not on the list.
  const [entry, setEntry] = useState<WaitlistEntry | null | undefined>(token ? undefined : null);
  const [quantity, setQuantity] = useState<string | number>(1);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const read = useCallback(async (fresh: boolean) => {
    if (!token) return setEntry(null);
    if (fresh) forgetWaitlist();
    try {
      const mine = await myWaitlist(token);
      // An offer stays on show once made: taken or over, its panel says so.
      setEntry((was) => was?.status === "offered" ? was : mine.find((e) => e.eventId === event.id) ?? null);
    } catch (e) {
      setProblem(problemOf(e));
    }
  }, [token, event.id]);
  useEffect(() => {
    void read(false);
  }, [read]);

  // Waiting: the offer comes on the stream as a booking with the entry's id.
  const waitingId = entry?.status === "waiting" || entry?.status === "pending" ? entry.id : null;
  useEffect(() => {
    if (!waitingId) return;
    return updates.wait(waitingId, () => {
      void read(true);
      onChanged();
    });
  }, [waitingId, updates, read, onChanged]);

  const act = async (change: () => Promise<WaitlistEntry | null>) => {
    setBusy(true);
    setProblem(null);
    try {
      const answer = await change();
      forgetWaitlist();
      if (answer?.status === "pending") await read(true); // decided meanwhile, or soon
      else setEntry(answer);
    } catch (e) {
      setProblem(problemOf(e));
    } finally {
      setBusy(false);
    }
  };
  const join = () => {
    if (!token) return onAskLogin();
    const seats = Number(quantity);
    if (quantity === "" || !Number.isInteger(seats) || seats < 1) {
      return setProblem("Ask for 1 seat or more.");
    }
    void act(() => api.joinWaitlist(token, event.id, seats));
  };
  const leave = () => {
    if (token) void act(() => api.leaveWaitlist(token, event.id).then(() => null));
  };

  if (entry === undefined) return null;
  if (entry?.status === "offered" && token) {
    const take = event.priceCents === 0 ? "accept them" : "pay";
    return (
      <Stack gap="xs" data-testid="waitlist-offer">
        <Text size="sm" fw={500}>
          Seats came back and you were next in line: they are yours if you {take} before the
          time runs out; after that they go to the next buyer waiting.
        </Text>
        <HoldPanel token={token} updates={updates} onSettled={onChanged}
          booking={{ id: entry.id, status: "held", quantity: entry.quantity, expiresAt: entry.expiresAt }} />
      </Stack>
    );
  }
  return (
    <Stack gap="xs" data-testid="waitlist">
      {entry ? (
        <Group justify="space-between">
          <Text size="sm" role="status" data-testid="waitlist-place">{placeInLine(entry)}</Text>
          <Button variant="light" color="gray" loading={busy} onClick={leave}>Leave the waiting list</Button>
        </Group>
      ) : (
        <>
          <Text size="sm">
            Sold out. Join the waiting list: seats that come back are offered to it in turn, each to
            the first buyer whose number of seats fits.
          </Text>
          <Group align="flex-end">
            <NumberInput label="Tickets wanted" min={1} w={120} value={quantity} allowDecimal={false}
              clampBehavior="none" error={problem !== null} onChange={(v) => {
                setQuantity(v);
                setProblem(null);
              }} disabled={busy} />
            <Button loading={busy} onClick={join}>Join the waiting list</Button>
          </Group>
        </>
      )}
      {problem && <Text size="sm" c="red" role="alert">{problem}</Text>}
    </Stack>
  );
}
