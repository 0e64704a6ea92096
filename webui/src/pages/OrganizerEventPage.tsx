// An organizer's own event (/organize/events/{id}) during a surge: the totals, live charts
// of bookings per second and seats left over the last minute, fed by the page's event stream
// (counts pushed at most ten times a second), and its waiting room's line when it has one.
import "@mantine/charts/styles.css";
import { useEffect, useState } from "react";
import { Alert, Anchor, Badge, Button, Card, Group, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { AreaChart, BarChart } from "@mantine/charts";
import { Link } from "react-router";
import { api } from "../api";
import type { Session, TicketEvent } from "../api";
import { STATUS } from "../components/EventCard";
import { CancelEvent } from "../components/CancelEvent";
import { RoomWatch } from "../components/RoomWatch";
import { StaffSection } from "../components/StaffSection";
import { Total } from "../components/Total";
import { formatAmount } from "../money";
import { useTitle } from "../page";
import { paths } from "../routes";
import type { StockFeed } from "../stream";
import { NONE_HEARD, WINDOW_SECONDS, bookedCount, emptySurge, record, startFrom, tick } from "../surge";

/** How often the page reads the totals the stream does not carry. */
const TOTALS_MS = 5000;

interface Props {
  eventId: number;
  session: Session;
  /** The shell's live list (null while it loads). */
  events: TicketEvent[] | null;
  stock: StockFeed;
}

export function OrganizerEventPage({ eventId, session, events, stock }: Props) {
  const event = events?.find((e) => e.id === eventId);
  const [surge, setSurge] = useState(emptySurge);
  useTitle(event ? `${event.name} · Organize` : "Organize");

  const known = event !== undefined;
  const start = event?.availableTickets;
  useEffect(() => {
    if (!known) return;
    setSurge((s) => (s.left === null && start !== undefined ? record(s, Date.now(), start) : s));
  }, [known, start]);
  useEffect(() => stock.listen((u) => {
    if (u.eventId !== eventId) return;
    setSurge((s) => record(s, Date.now(), u.availableTickets, bookedCount(u)));
  }), [stock, eventId]);
  // Where the booking count stands as the page opens (the gateway's latest), so the bookings
  // of the first frame count too (`startFrom` also mends a frame that came before it).
  // The organizer's totals the stream does not carry (check-ins, revenue): read with the
  // event as the page opens, then again every few seconds while it is open.
  const token = session.token;
  const [totals, setTotals] = useState<Pick<TicketEvent, "checkedIn" | "revenueCents">>({});
  useEffect(() => {
    void api.event(eventId, token).then((read) => {
      setSurge((s) => startFrom(s, bookedCount(read) ?? NONE_HEARD));
      setTotals({ checkedIn: read.checkedIn, revenueCents: read.revenueCents });
    }, () => undefined);
    const timer = window.setInterval(() => {
      void api.event(eventId, token).then(
        (read) => setTotals({ checkedIn: read.checkedIn, revenueCents: read.revenueCents }),
        () => undefined);
    }, TOTALS_MS);
    return () => window.clearInterval(timer);
  }, [eventId, token]);
  useEffect(() => {
    const timer = window.setInterval(() => setSurge((s) => tick(s, Date.now())), 1000);
    return () => window.clearInterval(timer);
  }, []);

  if (events === null) return <Text c="dimmed">Loading the event…</Text>;
  if (!event) {
    return <Alert color="yellow" title="No such event">
      <Anchor component={Link} to={paths.organize}>Back to your events</Anchor>
    </Alert>;
  }
  if (session.user.role !== "ADMIN" && event.vendorId !== session.user.id) {
    return <Alert color="yellow" title="Not one of your events">
      Organizers see the sales of their own events only.{" "}
      <Anchor component={Link} to={paths.organize}>Back to your events</Anchor>
    </Alert>;
  }
  const left = Math.max(0, event.availableTickets);
  const sold = event.totalTickets - left;
  const lastMinute = surge.points.reduce((n, p) => n + p.sold, 0);
  const bookingsLastMinute = surge.points.reduce((n, p) => n + p.bookings, 0);
  const status = STATUS[event.status];
  return (
    <Stack>
      <Anchor component={Link} to={paths.organize} size="sm">← Your events</Anchor>
      <Group justify="space-between">
        <Title order={2}>{event.name}</Title>
        <Group gap="xs">
          <Badge color={status.color}>{status.label}</Badge>
          <Button component={Link} to={paths.checkin(event.id)} variant="light">Door: check tickets in</Button>
        </Group>
      </Group>
      <SimpleGrid cols={{ base: 2, sm: 4 }}>
        <Total label="Sold" value={`${sold} / ${event.totalTickets}`} testId="total-sold" />
        <Total label="Left" value={left} testId="total-left" />
        <Total label="Bookings in the last minute" value={bookingsLastMinute} testId="total-bookings-minute" />
        <Total label="Seats sold in the last minute" value={lastMinute} testId="total-minute" />
        <Total label="Most seats in one second" value={surge.peak} testId="total-peak" />
        <Total label="Checked in" value={totals.checkedIn === undefined ? "–" : `${totals.checkedIn} / ${sold}`}
          testId="total-checked-in" />
        <Total label="Revenue" testId="total-revenue"
          value={totals.revenueCents === undefined ? "–" : formatAmount(totals.revenueCents, event.currency ?? "EUR")} />
      </SimpleGrid>
      {event.waitingRoom?.enabled && <RoomWatch token={session.token} eventId={event.id} />}
      <Card withBorder component="figure" m={0} data-testid="chart-rate">
        <Text component="figcaption" fw={600} mb="xs">Bookings per second (last {WINDOW_SECONDS} s)</Text>
        <BarChart h={200} data={surge.points} dataKey="label" withTooltip={false}
          series={[{ name: "bookings", label: "bookings", color: "teal.9" }]} barProps={{ isAnimationActive: false }} />
      </Card>
      <Card withBorder component="figure" m={0} data-testid="chart-left">
        <Text component="figcaption" fw={600} mb="xs">Seats left</Text>
        <AreaChart h={200} data={surge.points} dataKey="label" withTooltip={false}
          yAxisProps={{ domain: [0, event.totalTickets] }} curveType="stepAfter" withDots={false}
          series={[{ name: "left", label: "seats left", color: "blue.9" }]}
          areaProps={{ isAnimationActive: false }} />
      </Card>
      <StaffSection token={session.token} eventId={event.id} />
      <CancelEvent token={session.token} event={event} />
    </Stack>
  );
}
