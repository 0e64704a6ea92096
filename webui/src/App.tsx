// The shell: header with navigation and session, one page at a time (kept in the URL hash
// so a reload or a shared link lands on the same page).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Alert, AppShell, Badge, Button, Container, Group, Tabs, Text, Title } from "@mantine/core";
import { ApiError, api, explain } from "./api";
import type { TicketEvent } from "./api";
import { BookingUpdates } from "./booking";
import { AuthModal } from "./components/AuthModal";
import { EventsPage } from "./pages/EventsPage";
import { OrganizerPage } from "./pages/OrganizerPage";
import { TicketsPage } from "./pages/TicketsPage";
import { useSession } from "./session";
import { useEventStream } from "./stream";

type Page = "events" | "tickets" | "organize";

const TITLES: Record<Page, string> = { events: "Events", tickets: "My Tickets", organize: "Organize" };

function pageFromHash(): Page {
  const page = window.location.hash.replace("#/", "");
  return page === "tickets" || page === "organize" ? page : "events";
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
  const [page, setPage] = useState<Page>(pageFromHash);
  const [events, setEvents] = useState<TicketEvent[] | null>(null);
  const [eventsError, setEventsError] = useState<string | null>(null);
  const [askLogin, setAskLogin] = useState(false);
  const [ticketsVersion, setTicketsVersion] = useState(0);
  const [live, setLive] = useState<boolean | null>(null); // null: first connection
  const updates = useMemo(() => new BookingUpdates(), []);
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

  useEffect(() => {
    const onHash = () => setPage(pageFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  useEventStream(token, {
    // A (re)connected stream may have missed updates: read the list once more.
    onOpen: () => {
      setLive(true);
      void loadEvents();
      setTicketsVersion((v) => v + 1);
    },
    onError: () => setLive(false),
    onStock: ({ eventId, availableTickets }) => {
      const known = eventsNow.current?.find((e) => e.id === eventId);
      if (!known || availableTickets === known.availableTickets || availableTickets > known.totalTickets) {
        rereadSoon();
      }
      setEvents((list) => list && list.map((e) => e.id !== eventId ? e : {
        ...e,
        availableTickets,
        status: availableTickets === 0 ? "sold_out" : e.status === "sold_out" ? "on_sale" : e.status,
      }));
    },
    onBooking: (b) => {
      updates.deliver({ ...b, tickets: [] });
      setTicketsVersion((v) => v + 1);
    },
  });

  const go = (next: string | null) => {
    const target = (next ?? "events") as Page;
    window.location.hash = `#/${target}`;
    setPage(target);
  };

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

  // Each page its own title (tabs, history, screen readers).
  useEffect(() => {
    document.title = `${TITLES[page]} · Ticket War`;
  }, [page]);

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
          <Tabs value={page} onChange={go}>
            <Tabs.List mb="md">
              <Tabs.Tab value="events">Events</Tabs.Tab>
              {session && <Tabs.Tab value="tickets">My Tickets</Tabs.Tab>}
              {organizer && <Tabs.Tab value="organize">Organize</Tabs.Tab>}
            </Tabs.List>
            <Tabs.Panel value="events">
              {page === "events" && (
                <EventsPage events={events} error={eventsError} token={token} updates={updates}
                  onAskLogin={() => setAskLogin(true)} />
              )}
            </Tabs.Panel>
            <Tabs.Panel value="tickets">
              {page === "tickets" && !session && (
                <LoginNeeded what="see your tickets" onLogin={() => setAskLogin(true)} />
              )}
              {page === "tickets" && session && <TicketsPage token={session.token} version={ticketsVersion} />}
            </Tabs.Panel>
            <Tabs.Panel value="organize">
              {page === "organize" && !session && (
                <LoginNeeded what="organize events" onLogin={() => setAskLogin(true)} />
              )}
              {page === "organize" && session && !organizer && (
                <Alert color="yellow" title="Organizer accounts only">
                  Creating and editing events needs an organizer account; yours is a buyer account.
                  An operator can make it an organizer.
                </Alert>
              )}
              {page === "organize" && session && organizer && (
                <OrganizerPage session={session} events={events ?? []} onChanged={() => void loadEvents()} />
              )}
            </Tabs.Panel>
          </Tabs>
        </Container>
      </AppShell.Main>
      <AuthModal opened={askLogin} onClose={closeLogin} notice={ended} />
    </AppShell>
  );
}
