// "My Tickets": the signed-in buyer's bookings, newest first, each with its tickets and a
// link to its ticket page; a cancelled booking stays in the history, marked, its tickets void.
import { useEffect, useRef, useState } from "react";
import { Alert, Anchor, Badge, Button, Card, Code, Group, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import { ApiError, api, explain } from "../api";
import type { MyBooking } from "../api";
import type { BookingUpdates } from "../booking";
import { HoldPanel } from "../components/HoldPanel";
import { MyWaitlist } from "../components/MyWaitlist";
import { longDate } from "../dates";
import { isFreeHold } from "../hold";
import { useTitle } from "../page";
import { paths } from "../routes";

/** The list as the shell last read it: null before the first read succeeds. */
export interface MyBookings {
  bookings: MyBooking[] | null;
  /** The last read failed (the list read before it, if any, stays). */
  error: string | null;
  reload: () => Promise<void>;
}

interface Props extends MyBookings {
  token: string;
  updates: BookingUpdates;
}

/** "Cancelled" and the like, for what is not a plain confirmed booking. */
const BOOKING_BADGE: Partial<Record<MyBooking["status"], { label: string; color: string }>> = {
  cancelled: { label: "Cancelled", color: "gray.8" },
  held: { label: "Awaiting payment", color: "blue.9" },
  expired: { label: "Expired", color: "gray.8" },
};

/** A booking's badge, if it has one: a held one that costs nothing (a free event's
 *  waiting-list offer) awaits acceptance, not payment. */
export function bookingBadge(b: MyBooking): { label: string; color: string } | undefined {
  if (b.status === "held" && isFreeHold(b)) return { label: "Awaiting acceptance", color: "blue.9" };
  return BOOKING_BADGE[b.status];
}

/** Where and when, as a ticket prints it. */
export function eventLine(b: MyBooking): string {
  return [b.startsAt ? longDate(b.startsAt) : "Date to be announced", b.venue].filter(Boolean).join(" · ");
}

/** Which bookings show their HoldPanel: the held ones, and those seen held on this page that
 *  since ended (paid or expired), so the panel's answer ("Paid — you are in!", "Time ran
 *  out") stays said after the list is read again instead of vanishing with the re-read.
 *  Bookings that ended before the page saw them show their badge only. */
export function useHoldsSeenHere(bookings: MyBooking[] | null): (b: MyBooking) => boolean {
  const seen = useRef(new Set<string>());
  for (const b of bookings ?? []) if (b.status === "held") seen.current.add(b.id);
  return (b) => b.status === "held"
    || ((b.status === "expired" || b.status === "confirmed") && seen.current.has(b.id));
}

export function TicketsPage({ token, updates, bookings, error, reload }: Props) {
  useTitle("My Tickets");
  // A refused cancel, said on its booking; the tickets stay (they are still valid).
  const [cancelError, setCancelError] = useState<{ bookingId: string; text: string } | null>(null);
  const [cancelling, setCancelling] = useState<string | null>(null);
  // Cancelling gives the seats to the next buyer at once: ask before doing it.
  const [confirming, setConfirming] = useState<string | null>(null);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const showsHold = useHoldsSeenHere(bookings);
  // Read afresh whenever the page is opened: the list may be from before a change elsewhere.
  useEffect(() => {
    void reload();
  }, [reload]);

  const cancel = async (bookingId: string) => {
    setCancelling(bookingId);
    setCancelError(null);
    try {
      await api.cancel(token, bookingId);
      await reload();
    } catch (e) {
      setCancelError({ bookingId, text: e instanceof ApiError ? explain(e) : String(e) });
    } finally {
      setCancelling(null);
      setConfirming(null);
    }
  };

  if (error && bookings === null) {
    return (
      <Alert color="red" title="Tickets could not be loaded">
        {error}
        <Button mt="sm" size="xs" variant="light" color="red" onClick={() => void reload()}>Try again</Button>
      </Alert>
    );
  }
  if (bookings === null) return <Text c="dimmed">Loading your tickets…</Text>;
  const waitlist = <MyWaitlist token={token} version={bookings} />;
  if (bookings.length === 0) {
    return <Stack>{waitlist}<Text c="dimmed">You have no tickets yet.</Text></Stack>;
  }

  return (
    <Stack>
      {waitlist}
      {error && error !== dismissed && (
        <Alert color="yellow" title="Could not refresh your tickets" withCloseButton
          closeButtonLabel="Close" onClose={() => setDismissed(error)}>
          {error} This list is from a moment ago.
        </Alert>
      )}
      {bookings.map((b) => {
        const badge = bookingBadge(b);
        const cancellable = b.status === "confirmed" || b.status === "held";
        return (
          <Card key={b.id} withBorder data-testid="booking" data-status={b.status}>
            <Group justify="space-between" align="flex-start">
              <div style={{ minWidth: 0 }}>
                <Group gap="xs">
                  <Title order={2} size="h4">
                    <Anchor component={Link} to={paths.ticket(b.id)} inherit c="inherit">{b.eventName}</Anchor>
                  </Title>
                  {badge && <Badge color={badge.color}>{badge.label}</Badge>}
                </Group>
                <Text size="sm">{eventLine(b)}</Text>
                <Text size="xs" c="dimmed">
                  Booked {new Date(b.createdAt).toLocaleString()} · {b.quantity} seat{b.quantity > 1 ? "s" : ""}
                </Text>
              </div>
              {cancellable && (confirming === b.id ? (
                <Stack gap={4} align="flex-end">
                  <Text size="sm">Give up {b.quantity > 1 ? "these seats" : "this seat"}?</Text>
                  <Group gap="xs" wrap="nowrap">
                    <Button color="red" loading={cancelling === b.id} onClick={() => void cancel(b.id)}>
                      Yes, cancel
                    </Button>
                    <Button variant="default" disabled={cancelling === b.id} onClick={() => setConfirming(null)}>
                      Keep
                    </Button>
                  </Group>
                </Stack>
              ) : (
                <Button variant="light" color="red" onClick={() => setConfirming(b.id)}>
                  Cancel booking
                </Button>
              ))}
            </Group>
            {cancelError?.bookingId === b.id && (
              <Alert mt="sm" color="red" title="Not cancelled" role="alert" withCloseButton
                closeButtonLabel="Close" onClose={() => setCancelError(null)}>
                {cancelError.text} Your tickets below are still valid.
              </Alert>
            )}
            {showsHold(b) && (
              <div style={{ marginTop: "var(--mantine-spacing-sm)" }}>
                <HoldPanel token={token} booking={b} updates={updates} onSettled={() => void reload()} />
              </div>
            )}
            <Group mt="sm" gap="xs">
              {b.tickets.map((t) => t.void ? (
                <Code key={t.id} data-testid="void-ticket-code" className="void-code"
                  title="void: the booking was cancelled">{t.code} (void)</Code>
              ) : (
                <Code key={t.id} data-testid="ticket-code" style={{ whiteSpace: "nowrap" }}>{t.code}</Code>
              ))}
              {b.tickets.length > 0 && (
                <Anchor component={Link} to={paths.ticket(b.id)} size="sm">
                  {b.status === "confirmed" ? "Show tickets (QR codes)" : "Details"}
                </Anchor>
              )}
            </Group>
          </Card>
        );
      })}
    </Stack>
  );
}
