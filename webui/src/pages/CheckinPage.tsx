// The door (/organize/events/{id}/checkin): type a ticket's code (or let a keyboard-wedge
// scanner type it), Enter, and read the answer at arm's length — admitted with the time, or
// why not. The field is cleared and focused again for the next guest. Or scan with the
// device's camera: every ticket held up is checked in the same way, once, and the camera
// stays on for the next one. The event's vendor, an admin and its door staff (plain
// buyer accounts) may use it: the page does not guess who may, it asks the API and says
// plainly when the API refuses.
import { useEffect, useRef, useState } from "react";
import { Anchor, Button, Card, Group, Stack, Text, TextInput, Title } from "@mantine/core";
import { Link } from "react-router";
import { ApiError, api, explain } from "../api";
import type { Session, TicketEvent } from "../api";
import { CameraScanner } from "../components/CameraScanner";
import { clockTime } from "../dates";
import { useTitle } from "../page";
import { paths } from "../routes";
import { ScanGate } from "../scan";

interface Props {
  eventId: number;
  session: Session;
  /** The shell's live list (null while it loads): the event's name, when listed. */
  events: TicketEvent[] | null;
}

type Result =
  | { ok: true; code: string; at: string }
  | { ok: false; code: string; title: string; detail: string };

/** The door's answer to a refused check-in, in the words a door person reads out. */
function refused(code: string, error: ApiError): Result {
  switch (error.code) {
    case "already_checked_in": {
      const at = typeof error.body.checkedInAt === "string" ? error.body.checkedInAt : null;
      return { ok: false, code, title: at ? `Already checked in at ${clockTime(at)}` : "Already checked in",
        detail: "This ticket was used before: do not let it in twice." };
    }
    case "unknown_ticket":
      return { ok: false, code, title: "Unknown ticket", detail: "No ticket of this event has that code. Check it was typed right." };
    case "ticket_void":
      return { ok: false, code, title: "Void ticket", detail: "Its booking was cancelled: this ticket lets no one in." };
    case "forbidden":
      return { ok: false, code, title: "Not allowed at this door",
        detail: "Your account is not door staff for this event. Ask its organizer to add you." };
    case "not_found":
      return { ok: false, code, title: "No such event", detail: "This event does not exist, or was removed." };
    default:
      return { ok: false, code, title: "Not checked in", detail: explain(error) };
  }
}

export function CheckinPage({ eventId, session, events }: Props) {
  const listed = events?.find((e) => e.id === eventId);
  const [read, setRead] = useState<TicketEvent | null>(null);
  const event = listed ?? read;
  useTitle(event ? `Door · ${event.name}` : "Door");
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result | null>(null);
  const [admitted, setAdmitted] = useState(0);
  const [checked, setChecked] = useState(0);
  const field = useRef<HTMLInputElement>(null);
  // Set at once (state is seen a render later): the camera reads a code every 250 ms.
  const inFlight = useRef(false);
  const gate = useRef(new ScanGate());

  // An event past the list's first 200 (or not on it yet) is read for its name.
  useEffect(() => {
    if (events !== null && !listed) void api.event(eventId).then(setRead, () => undefined);
  }, [events, listed, eventId]);

  /** Checks one code in, typed or read by the camera: the same request and the same answer
   *  on screen. A typed code's field is cleared and focused for the next; a scanned one
   *  leaves the field (and what is being typed in it) alone. */
  const checkIn = async (given: string, typed: boolean) => {
    const ticket = given.trim();
    if (!ticket || inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    try {
      const done = await api.checkIn(session.token, eventId, ticket);
      setResult({ ok: true, code: done.ticket.code, at: done.checkedInAt });
      setAdmitted((n) => n + 1);
    } catch (e) {
      setResult(refused(ticket, e instanceof ApiError ? e : new ApiError(0, "network_error", String(e))));
    } finally {
      inFlight.current = false;
      setChecked((n) => n + 1);
      setBusy(false);
      if (typed) {
        setCode("");
        // After the render that re-enables the field.
        window.setTimeout(() => field.current?.focus(), 0);
      }
    }
  };

  /** A code the camera read: checked in unless it is the ticket still in view (see ScanGate). */
  const scanned = (text: string) => {
    const ticket = text.trim();
    if (ticket && gate.current.admit(ticket, performance.now(), inFlight.current)) void checkIn(ticket, false);
  };

  const organizer = session.user.role === "ADMIN" || event?.vendorId === session.user.id;
  return (
    <Stack>
      {organizer && (
        <Anchor component={Link} to={paths.organizeEvent(eventId)} size="sm">← The event's sales</Anchor>
      )}
      <Title order={2}>Door{event ? ` · ${event.name}` : ""}</Title>
      <form onSubmit={(e) => {
        e.preventDefault();
        void checkIn(code, true);
      }}>
        <Group align="flex-end">
          <TextInput ref={field} label="Ticket code" value={code} autoFocus autoComplete="off"
            autoCapitalize="characters" spellCheck={false} size="lg" w={320} maw="100%" readOnly={busy}
            description="Type the code and press Enter, or scan it with a handheld scanner."
            onChange={(e) => setCode(e.currentTarget.value)} />
          <Button type="submit" size="lg" loading={busy}>Check in</Button>
        </Group>
      </form>
      <CameraScanner onCode={scanned} />
      <div role="status" aria-live="polite" aria-atomic="true" data-testid="door-result">
        {result && (
          <Card withBorder padding="lg" bg={result.ok ? "green.0" : "red.0"}
            data-outcome={result.ok ? "admitted" : "refused"}>
            <Text fz={36} fw={800} c={result.ok ? "green.9" : "red.9"}>
              {result.ok ? `✓ Admitted at ${clockTime(result.at)}` : `✗ ${result.title}`}
            </Text>
            <Text ff="monospace" fw={700}>{result.code}</Text>
            {!result.ok && <Text>{result.detail}</Text>}
          </Card>
        )}
      </div>
      <Text data-testid="door-count">
        Admitted here: <b>{admitted}</b> of {checked} checked
      </Text>
    </Stack>
  );
}
