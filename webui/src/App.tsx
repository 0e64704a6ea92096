// The shell: header with navigation and session, one page at a time at its own address
// (react-router's history routing: routes.ts), the event list and the buyer's bookings kept
// live for every page by one event stream.
import { Suspense, lazy, useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { ComponentProps, ReactNode } from "react";
import { Alert, Anchor, AppShell, Badge, Button, Container, Group, Tabs, Text, Title } from "@mantine/core";
import { Link, Route, Routes, useLocation, useNavigate, useParams } from "react-router";
import { ApiError, api, explain } from "./api";
import type { MyBooking, Session, TicketEvent } from "./api";
import { BookingUpdates } from "./booking";
import { AuthModal } from "./components/AuthModal";
import { liveStatus } from "./status";
import { useTitle } from "./page";
import { CheckinPage } from "./pages/CheckinPage";
import { EventPage } from "./pages/EventPage";
import { EventsPage } from "./pages/EventsPage";
import { OrganizerPage } from "./pages/OrganizerPage";
import { TicketPage } from "./pages/TicketPage";
import { TicketsPage } from "./pages/TicketsPage";
import type { MyBookings } from "./pages/TicketsPage";
import { pathOfHash, paths, sectionOf } from "./routes";
import type { Section } from "./routes";
import { useSession } from "./session";
import { QueueFeed, StockFeed, useEventStream } from "./stream";

// The surge charts (recharts, ~0.5 MB) load only for an organizer who opens them, not for
// every buyer of a surge.
const OrganizerEventPage = lazy(() => import("./pages/OrganizerEventPage")
  .then((m) => ({ default: m.OrganizerEventPage })));

const SECTION_PATH: Record<Section, string> = {
  events: paths.events, tickets: paths.tickets, organize: paths.organize,
};
const SECTION_TITLE: Record<Section, string> = { events: "Events", tickets: "My Tickets", organize: "Organize" };

/** The signed-in buyer's bookings, read at sign-in and whenever `version` moves; a failed
 *  read keeps the list read before it. */
function useMyBookings(token: string | null, version: number): MyBookings {
  const [bookings, setBookings] = useState<MyBooking[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(async () => {
    if (!token) return;
    try {
      setBookings(await api.myBookings(token));
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? explain(e) : String(e));
    }
  }, [token]);
  useEffect(() => {
    setBookings(null);
    setError(null);
  }, [token]);
  useEffect(() => {
    void reload();
  }, [reload, version]);
  return { bookings, error, reload };
}

/** A page whose address names something missing. */
function NotFound() {
  useTitle("Page not found");
  return (
    <Alert color="yellow" title="No such page">
      <Anchor component={Link} to={paths.events}>See all events</Anchor>
    </Alert>
  );
}

/** A section's title while it asks for a session or a role instead of showing its page. */
function Gate({ section, children }: { section: Section; children: ReactNode }) {
  useTitle(SECTION_TITLE[section]);
  return <>{children}</>;
}

function EventRoute(props: Omit<ComponentProps<typeof EventPage>, "eventId" | "listed" | "mine"> & {
  events: TicketEvent[] | null; mine: Map<number, number>;
}) {
  const eventId = Number(useParams().eventId);
  const { events, mine, ...rest } = props;
  return <EventPage key={eventId} eventId={eventId} listed={events?.find((e) => e.id === eventId)}
    mine={mine.get(eventId) ?? 0} {...rest} />;
}

function TicketRoute(props: MyBookings & { token: string; updates: BookingUpdates }) {
  const bookingId = useParams().bookingId ?? "";
  return <TicketPage bookingId={bookingId} {...props} />;
}

function OrganizerEventRoute(props: { session: Session; events: TicketEvent[] | null; stock: StockFeed }) {
  const eventId = Number(useParams().eventId);
  return (
    <Suspense fallback={<Text c="dimmed">Loading the event…</Text>}>
      <OrganizerEventPage key={eventId} eventId={eventId} {...props} />
    </Suspense>
  );
}

function CheckinRoute(props: { session: Session; events: TicketEvent[] | null }) {
  const eventId = Number(useParams().eventId);
  return <CheckinPage key={eventId} eventId={eventId} {...props} />;
}

/** A page that needs a session, shown without one: says so, with a way to log in. */
function LoginNeeded({ what, onLogin }: { what: string; onLogin: () => void }) {
  return (
    <Alert color="blue" title={`Log in to ${what}`}>
      <Button mt="sm" onClick={onLogin}>Log in</Button>
    </Alert>
  );
}

export function App() {
  const { session, ended, dismissEnded, logout } = useSession();
  const location = useLocation();
  const navigate = useNavigate();
  const section = sectionOf(location.pathname);
  const [events, setEvents] = useState<TicketEvent[] | null>(null);
  const [eventsError, setEventsError] = useState<string | null>(null);
  const [askLogin, setAskLogin] = useState(false);
  const [ticketsVersion, setTicketsVersion] = useState(0);
  const [live, setLive] = useState<boolean | null>(null); // null: first connection
  const updates = useMemo(() => new BookingUpdates(), []);
  const stock = useMemo(() => new StockFeed(), []);
  const queue = useMemo(() => new QueueFeed(), []);
  const token = session?.token ?? null;
  const role = session?.user.role;

  const loadEvents = useCallback(async () => {
    try {
      setEvents(await api.events());
      setEventsError(null);
    } catch (e) {
      setEventsError(e instanceof ApiError ? explain(e) : String(e));
    }
  }, []);

  useEffect(() => {
    void loadEvents();
  }, [loadEvents]);

  // The stream carries seats left only. A count that did not move, one above the event's
  // seats, or one for an event not listed means something other than a sale or a cancel
  // changed (an organizer's edit broadcasts the count, changed or not; a new event), so the
  // list is read again: once for a burst of such updates, spread over a second so that every
  // open page does not ask in the same instant. Sales and cancels, the bulk of a surge, cost
  // no read.
  const eventsNow = useRef(events);
  eventsNow.current = events;
  const rereadTimer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(rereadTimer.current), []);
  const rereadSoon = useCallback(() => {
    if (rereadTimer.current !== undefined) return;
    rereadTimer.current = window.setTimeout(() => {
      rereadTimer.current = undefined;
      void loadEvents();
    }, 200 + Math.random() * 800);
  }, [loadEvents]);

  // A flash sale opens at a set time: re-read the list the moment the next one opens, so the
  // Book button comes alive for buyers already waiting on the page.
  const nextOpening = useMemo(() => {
    const now = Date.now();
    const times = (events ?? [])
      .map((e) => (e.saleStartsAt ? Date.parse(e.saleStartsAt) : NaN))
      .filter((t) => t > now);
    return times.length ? Math.min(...times) : null;
  }, [events]);

  useEffect(() => {
    if (nextOpening === null) return;
    // setTimeout holds at most ~24.8 days; a later opening is re-planned after a reload.
    const delay = Math.min(nextOpening - Date.now() + 100, 2 ** 31 - 1);
    const timer = window.setTimeout(() => void loadEvents(), Math.max(0, delay));
    return () => window.clearTimeout(timer);
  }, [nextOpening, loadEvents]);

  // Links of the old hash routing (/#/tickets) still work: they are replaced by their path.
  useEffect(() => {
    const fromHash = () => {
      const path = pathOfHash(window.location.hash);
      if (path !== null) navigate(path, { replace: true });
    };
    fromHash();
    window.addEventListener("hashchange", fromHash);
    return () => window.removeEventListener("hashchange", fromHash);
  }, [navigate]);

  const mineList = useMyBookings(token, ticketsVersion);
  // Seats the buyer holds per event (confirmed or held): what bounds their next booking.
  const mine = useMemo(() => {
    const held = new Map<number, number>();
    for (const b of mineList.bookings ?? []) {
      if (b.status === "confirmed" || b.status === "held") held.set(b.eventId, (held.get(b.eventId) ?? 0) + b.quantity);
    }
    return held;
  }, [mineList.bookings]);
  const booked = useCallback(() => setTicketsVersion((v) => v + 1), []);

  useEventStream(token, {
    // A (re)connected stream may have missed updates: read the list once more.
    onOpen: () => {
      setLive(true);
      void loadEvents();
      setTicketsVersion((v) => v + 1);
    },
    onError: () => setLive(false),
    onStock: (update) => {
      const { eventId, availableTickets } = update;
      stock.deliver(update);
      const known = eventsNow.current?.find((e) => e.id === eventId);
      if (!known || availableTickets === known.availableTickets || availableTickets > known.totalTickets) {
        rereadSoon();
      }
      setEvents((list) => list && list.map((e) => e.id !== eventId ? e : {
        ...e,
        availableTickets,
        status: liveStatus(e.status, availableTickets),
      }));
    },
    onBooking: (b) => {
      updates.deliver({ ...b, tickets: [] });
      setTicketsVersion((v) => v + 1);
    },
    onQueue: (entry) => queue.deliver(entry),
  });

  const go = (next: string | null) => navigate(SECTION_PATH[(next ?? "events") as Section]);

  // The session ended without the user asking (refused, expired): say why, and offer to log
  // in again right there. The page stays where the address says; pages that need a session
  // ask for one instead of showing stale data or moving elsewhere.
  useEffect(() => {
    if (ended) setAskLogin(true);
  }, [ended]);
  // Signed in (here or in another tab): the login box has nothing left to ask.
  useEffect(() => {
    if (session) setAskLogin(false);
  }, [session]);
  const closeLogin = () => {
    setAskLogin(false);
    dismissEnded();
  };
  const organizer = role === "VENDOR" || role === "ADMIN";

  const openLogin = () => setAskLogin(true);
  const needsLogin = (what: string, s: Section) => (
    <Gate section={s}><LoginNeeded what={what} onLogin={openLogin} /></Gate>
  );
  const organizerOnly = (page: ReactNode) => !session ? needsLogin("organize events", "organize")
    : !organizer ? (
      <Gate section="organize">
        <Alert color="yellow" title="Organizer accounts only">
          Creating and editing events needs an organizer account; yours is a buyer account.
          An operator can make it an organizer.
        </Alert>
      </Gate>
    ) : page;

  const routes = (
    <Routes>
      <Route path="/" element={
        <EventsPage events={events} error={eventsError} token={token} updates={updates} mine={mine}
          onAskLogin={openLogin} onBooked={booked} />} />
      <Route path="/events/:eventId" element={
        <EventRoute events={events} token={token} updates={updates} stock={stock} queue={queue} mine={mine}
          onAskLogin={openLogin} onBooked={booked} />} />
      <Route path="/tickets" element={session
        ? <TicketsPage token={session.token} updates={updates} {...mineList} />
        : needsLogin("see your tickets", "tickets")} />
      <Route path="/tickets/:bookingId" element={session
        ? <TicketRoute token={session.token} updates={updates} {...mineList} />
        : needsLogin("see your tickets", "tickets")} />
      <Route path="/organize" element={organizerOnly(session &&
        <OrganizerPage session={session} events={events ?? []} onChanged={() => void loadEvents()} />)} />
      <Route path="/organize/events/:eventId" element={organizerOnly(session &&
        <OrganizerEventRoute session={session} events={events} stock={stock} />)} />
      {/* Door staff are buyer accounts: any session may open the door; the API decides. */}
      <Route path="/organize/events/:eventId/checkin" element={session
        ? <CheckinRoute session={session} events={events} />
        : needsLogin("check tickets in", "organize")} />
      <Route path="*" element={<NotFound />} />
    </Routes>
  );

  return (
    <AppShell header={{ height: 64 }} padding="md">
      <AppShell.Header>
        <Container size="lg" h="100%">
          <Group h="100%" justify="space-between" wrap="nowrap" gap="xs">
            <Group gap="xs" wrap="nowrap">
              <Title order={1} fz={{ base: "md", sm: "xl" }} style={{ whiteSpace: "nowrap" }}>Ticket War</Title>
              <Badge variant="dot" color={live ? "green" : "yellow"} data-testid="live" style={{ flexShrink: 0 }}
                title={live ? "Seat counts update as they sell" : "Connecting to live updates"}>
                {live ? "Live" : live === null ? "Connecting…" : "Reconnecting…"}
              </Badge>
            </Group>
            <Group gap="xs" wrap="nowrap" miw={0}>
              {session ? (
                <>
                  <Text size="sm" c="dimmed" data-testid="signed-in-as" truncate="end" miw={0}
                    maw={{ base: 110, xs: 200, sm: 320 }} title={session.user.email}>
                    {session.user.email}
                  </Text>
                  <Button variant="subtle" size="compact-sm" onClick={logout} style={{ flexShrink: 0 }}>
                    Log out
                  </Button>
                </>
              ) : (
                <Button size="compact-md" onClick={() => setAskLogin(true)} style={{ flexShrink: 0 }}>Log in</Button>
              )}
            </Group>
          </Group>
        </Container>
      </AppShell.Header>
      <AppShell.Main>
        <Container size="lg">
          {/* Every tab's panel exists (empty unless shown), so each tab names a real panel. */}
          <Tabs value={section} onChange={go}>
            <Tabs.List mb="md">
              <Tabs.Tab value="events">Events</Tabs.Tab>
              {session && <Tabs.Tab value="tickets">My Tickets</Tabs.Tab>}
              {organizer && <Tabs.Tab value="organize">Organize</Tabs.Tab>}
            </Tabs.List>
            {(["events", "tickets", "organize"] as const).map((s) => (
              <Tabs.Panel key={s} value={s}>{section === s && routes}</Tabs.Panel>
            ))}
          </Tabs>
        </Container>
      </AppShell.Main>
      <AuthModal opened={askLogin} onClose={closeLogin} notice={ended} />
    </AppShell>
  );
}
