// An event's waiting room, in place of the booking panel while the room is on: join, the
// pre-queue's size and the sale's countdown before it opens, the place in line with a
// progress bar and the estimated wait, "It's your turn — book within 4:59" with the booking
// panel when admitted, and "Sold out" the moment the room closes, with the waiting list to
// join when the server offers it (closed by the sell-out, the event keeping a list). Changes
// come on the page's stream; the entry is also read again no faster than the server's
// `refreshAfterSeconds` asks.
import { useCallback, useEffect, useRef, useState } from "react";
import type { ReactNode } from "react";
import { Alert, Button, Progress, Stack, Text } from "@mantine/core";
import { ApiError, api, explain } from "../api";
import type { QueueEntry, TicketEvent } from "../api";
import { countdown } from "../dates";
import { useNow } from "../page";
import { headline, progress, stillMoving, waitText } from "../queue";
import type { QueueFeed } from "../stream";

interface Props {
  event: TicketEvent;
  token: string | null;
  feed: QueueFeed;
  onAskLogin: () => void;
  /** The booking panel, shown while admitted (and after, with its answer). */
  children: ReactNode;
  /** The event's waiting list, offered once the room closed on the sell-out. */
  waitlist: ReactNode;
  /** The sale's countdown (the page's, which reads the event again at the opening), shown
   *  before joining and in the pre-queue; nothing once the sale is open. */
  saleCountdown?: ReactNode;
}

/** Where this browser remembers the entry of an event, so a reload finds its place. */
const storageKey = (eventId: number) => `tw-queue-${eventId}`;

/** "It's your turn — book within 4:59", ticking. */
function Turn({ until }: { until: string }) {
  const now = useNow(1000);
  const left = countdown(Date.parse(until) - now);
  return (
    <Text fw={600} data-testid="queue-turn">
      {left ? `It's your turn — book within ${left.replace(/^0/, "")}` : "It's your turn"}
    </Text>
  );
}

export function QueuePanel({ event, token, feed, onAskLogin, children, waitlist, saleCountdown }: Props) {
  const [entry, setEntry] = useState<QueueEntry | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<number | null>(null);

  const show = useCallback((next: QueueEntry) => {
    if (next.status === "waiting" && first.current === null) first.current = next.position;
    setEntry(next);
  }, []);

  // A place this browser holds already (a reload): read it, forget it if it is gone.
  useEffect(() => {
    const saved = token ? sessionStorage.getItem(storageKey(event.id)) : null;
    if (!token || !saved) return;
    api.queueEntry(token, saved).then(show, () => sessionStorage.removeItem(storageKey(event.id)));
  }, [token, event.id, show]);

  useEffect(() => feed.listen((update) => {
    setEntry((current) => {
      if (current?.queueId !== update.queueId) return current;
      if (update.status === "waiting" && first.current === null) first.current = update.position;
      return update;
    });
  }), [feed]);

  // The answer to a join: kept for a reload once it names an entry (a pending one names
  // none yet: joining again learns what it became).
  const joined = useCallback((answer: QueueEntry) => {
    if (answer.status !== "pending") sessionStorage.setItem(storageKey(event.id), answer.queueId);
    show(answer);
  }, [event.id, show]);

  // Asked again no faster than the server says, while the entry can still change; a pending
  // join by joining again (the same entry once decided), as its 202 says. A failed ask
  // keeps the entry and asks again after the same wait.
  const [asks, setAsks] = useState(0);
  const queueId = entry?.queueId;
  const refresh = entry?.refreshAfterSeconds;
  const moving = entry ? stillMoving(entry) : false;
  const pending = entry?.status === "pending";
  useEffect(() => {
    if (!token || !queueId || !moving || !refresh) return;
    const again = () => setAsks((n) => n + 1);
    const timer = window.setTimeout(() => {
      if (pending) api.joinQueue(token, event.id).then(joined, again);
      else api.queueEntry(token, queueId).then(show, again);
    }, refresh * 1000);
    return () => window.clearTimeout(timer);
  }, [token, event.id, queueId, moving, pending, refresh, entry, asks, show, joined]);

  const join = async () => {
    if (!token) return onAskLogin();
    setBusy(true);
    setError(null);
    try {
      const answer = await api.joinQueue(token, event.id);
      first.current = null;
      joined(answer);
    } catch (e) {
      setError(e instanceof ApiError ? explain(e) : String(e));
    } finally {
      setBusy(false);
    }
  };

  if (!entry || entry.status === "expired") {
    return (
      <Stack gap="xs" data-testid="queue">
        {entry && <Text size="sm">{headline(entry)}. You can join again, at the back of the line.</Text>}
        {!entry && <Text size="sm">This sale has a waiting room: join it, and book when it is your turn.</Text>}
        {saleCountdown}
        <Button onClick={() => void join()} loading={busy} disabled={event.status === "sold_out"}>
          {entry ? "Join again" : "Join the waiting room"}
        </Button>
        {error && <Text size="sm" c="red" role="alert">{error}</Text>}
      </Stack>
    );
  }
  const wait = waitText(entry.estimatedWaitSeconds);
  return (
    <Stack gap="xs" data-testid="queue">
      <div role="status" aria-live="polite">
        {entry.status === "admitted" && entry.admissionExpiresAt ? (
          <Turn until={entry.admissionExpiresAt} />
        ) : entry.status === "closed" ? (
          <Alert color="red" title="Sold out">Every seat is taken; the waiting room has closed.</Alert>
        ) : (
          <Text fw={600} data-testid="queue-headline">{headline(entry)}</Text>
        )}
      </div>
      {(entry.status === "prequeue" || entry.status === "pending") && saleCountdown}
      {(entry.status === "admitted" || entry.status === "used") && children}
      {entry.status === "closed" && entry.waitlistUrl && waitlist}
      {entry.status === "prequeue" && (
        <Text size="sm">When the sale opens, places are drawn at random: arriving early gives no
          advantage. Keep this page open.</Text>
      )}
      {entry.status === "waiting" && (
        <>
          <Progress value={progress(first.current, entry.position)} aria-label="Progress in the line" />
          {wait && <Text size="sm" data-testid="queue-wait">Estimated wait: {wait}</Text>}
        </>
      )}
    </Stack>
  );
}
