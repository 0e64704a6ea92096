// One booking's tickets (/tickets/{bookingId}), to show at the door or print: each ticket's
// code as a QR code, the event's date and venue, an add-to-calendar file. A cancelled
// booking's tickets are shown void, without a code to scan, with the refund of a paid one.
import { useEffect, useMemo, useState } from "react";
import { Alert, Anchor, Badge, Button, Card, Group, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import { api } from "../api";
import type { MyBooking, Refund } from "../api";
import { longDate } from "../dates";
import { formatAmount } from "../money";
import type { BookingUpdates } from "../booking";
import { HoldPanel } from "../components/HoldPanel";
import { icsFile } from "../calendar";
import { QrCode } from "../components/QrCode";
import { useTitle } from "../page";
import { paths } from "../routes";
import { bookingBadge, eventLine, useHoldsSeenHere } from "./TicketsPage";
import type { MyBookings } from "./TicketsPage";

interface Props extends MyBookings {
  bookingId: string;
  token: string;
  updates: BookingUpdates;
}

/** The booking as a calendar entry, as a file URL to download (null: no date yet). */
function useCalendarFile(booking: MyBooking | undefined): string | null {
  const url = useMemo(() => {
    if (!booking?.startsAt || booking.status !== "confirmed") return null;
    const codes = booking.tickets.filter((t) => !t.void).map((t) => t.code);
    const text = icsFile({
      uid: `booking-${booking.id}@ticketwar`,
      summary: booking.eventName,
      location: booking.venue,
      description: `${codes.length} ticket${codes.length === 1 ? "" : "s"}: ${codes.join(", ")}`,
      start: new Date(booking.startsAt),
      stamp: new Date(),
    });
    return URL.createObjectURL(new Blob([text], { type: "text/calendar;charset=utf-8" }));
  }, [booking]);
  useEffect(() => () => {
    if (url) URL.revokeObjectURL(url);
  }, [url]);
  return url;
}

const REFUND_WHY: Record<Refund["reason"], string> = {
  buyer_cancelled: "you cancelled the booking",
  event_cancelled: "the organizer cancelled the event",
  late_payment: "the payment came after the hold had ended",
};

/** A paid booking's refund, read with the booking itself (the list does not carry it). */
function RefundNote({ token, bookingId }: { token: string; bookingId: string }) {
  const [refund, setRefund] = useState<Refund | null>(null);
  useEffect(() => {
    let alive = true;
    void api.booking(token, bookingId).then((b) => alive && setRefund(b.refund ?? null), () => undefined);
    return () => {
      alive = false;
    };
  }, [token, bookingId]);
  if (!refund) return null;
  const amount = formatAmount(refund.amountCents, refund.currency);
  return (
    <Alert color="teal" title={refund.status === "refunded" ? `Refunded ${amount}` : `Refund of ${amount} on its way`}
      data-testid="refund">
      {refund.status === "refunded" && refund.refundedAt
        ? `Given back on ${longDate(refund.refundedAt)}: ${REFUND_WHY[refund.reason]}.`
        : `It is being given back to your card: ${REFUND_WHY[refund.reason]}.`}
    </Alert>
  );
}

export function TicketPage({ bookingId, token, updates, bookings, error, reload }: Props) {
  useEffect(() => {
    void reload();
  }, [reload]);
  const booking = bookings?.find((b) => b.id === bookingId);
  useTitle(booking ? `Tickets · ${booking.eventName}` : "Tickets");
  const calendar = useCalendarFile(booking);
  const showsHold = useHoldsSeenHere(bookings);

  if (!booking) {
    if (bookings === null && !error) return <Text c="dimmed">Loading your tickets…</Text>;
    if (bookings === null) return <Alert color="red" title="Tickets could not be loaded">{error}</Alert>;
    return (
      <Alert color="yellow" title="No such booking">
        This booking is not in your account.{" "}
        <Anchor component={Link} to={paths.tickets}>See all your tickets</Anchor>
      </Alert>
    );
  }
  const badge = bookingBadge(booking);
  const voided = booking.status === "cancelled";
  return (
    <Stack className="ticket-page">
      <Anchor component={Link} to={paths.tickets} size="sm" className="no-print">← My Tickets</Anchor>
      <Group justify="space-between" align="flex-start">
        <div>
          <Group gap="xs">
            <Title order={2}>{booking.eventName}</Title>
            {badge && <Badge color={badge.color}>{badge.label}</Badge>}
          </Group>
          <Text data-testid="ticket-event">{eventLine(booking)}</Text>
          <Text size="sm" c="dimmed">
            Booking {booking.id} · {booking.quantity} seat{booking.quantity > 1 ? "s" : ""}
          </Text>
        </div>
        <Group gap="xs" className="no-print">
          {calendar && (
            <Button component="a" href={calendar} download={`ticket-war-${booking.id}.ics`} variant="light">
              Add to calendar
            </Button>
          )}
          {!voided && <Button variant="default" onClick={() => window.print()}>Print</Button>}
        </Group>
      </Group>
      {voided && (
        <Alert color="gray" title="This booking was cancelled">
          Its tickets are void and will not let anyone in.
        </Alert>
      )}
      {(voided || booking.status === "expired") && <RefundNote token={token} bookingId={booking.id} />}
      {(booking.status === "expired" || showsHold(booking)) && (
        <HoldPanel token={token} booking={booking} updates={updates} onSettled={() => void reload()} />
      )}
      <SimpleGrid cols={{ base: 1, xs: 2, md: 3 }}>
        {booking.tickets.map((t, i) => (
          <Card key={t.id} withBorder className="ticket" data-testid="ticket">
            <Stack align="center" gap={4}>
              <Text size="sm">Ticket {i + 1} of {booking.tickets.length}</Text>
              {t.void ? (
                <Text fw={700} c="red.9">VOID</Text>
              ) : (
                <QrCode text={t.code} />
              )}
              <Text ff="monospace" fw={700} style={{ whiteSpace: "nowrap" }}
                td={t.void ? "line-through" : undefined}>{t.code}</Text>
              <Text size="xs" ta="center" className="print-only">{booking.eventName} · {eventLine(booking)}</Text>
            </Stack>
          </Card>
        ))}
      </SimpleGrid>
    </Stack>
  );
}
