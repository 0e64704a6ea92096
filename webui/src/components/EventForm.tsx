// Create or edit an event (organizers). Dates use the browser's own date-time picker. The form
// refuses what makes no sense before sending it, and shows the server's refusals inside itself,
// next to the field concerned, in plain words.
import { useState } from "react";
import { Alert, Button, Group, NumberInput, Stack, TextInput, Textarea } from "@mantine/core";
import { ApiError, explain } from "../api";
import type { EventInput, TicketEvent } from "../api";
import { wholeNumber } from "../numbers";
import type { Typed } from "../numbers";

/** What the server accepts (gateway/schemas.py). */
const MAX_SEATS = 10_000_000;
const MAX_LIMIT = 1000;
const MAX_TEXT = 200;
const MAX_DESCRIPTION = 5000;

/** A description as the server stores and counts it: LF line breaks, NFC, in characters
 *  (code points, not the UTF-16 units of `.length`). */
export function descriptionLength(text: string): number {
  return [...text.replace(/\r\n?/g, "\n").normalize("NFC")].length;
}

/** ISO instant → the value of a datetime-local input (local time, minutes). */
function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function toIso(local: string): string | null {
  return local ? new Date(local).toISOString() : null;
}

type Field = "name" | "description" | "venue" | "totalTickets" | "perUserLimit" | "startsAt" | "saleStartsAt";
type Problems = Partial<Record<Field | "form", string>>;

/** A server refusal in the words of this form, on the field it concerns when it names one. */
export function serverProblem(error: unknown, sold: number): Problems {
  if (!(error instanceof ApiError)) return { form: String(error) };
  const field = typeof error.body.field === "string" ? error.body.field : null;
  switch (error.code) {
    case "capacity_below_sold":
      return { totalTickets: `Seats cannot go below what is already sold (${sold} or more by now).` };
    case "forbidden":
      return { form: "Only organizer accounts can create or change events, and only their own." };
    case "not_found":
    case "event_not_found":
      return { form: "This event no longer exists." };
    case "body_too_large":
      return { form: `The name, venue or description is too long to send. Shorten the description (or the name or venue, at most ${MAX_TEXT} characters each).` };
    case "invalid_input":
      switch (field) {
        case "name": return { name: `Give the event a name of at most ${MAX_TEXT} characters.` };
        case "venue": return { venue: `The venue can have at most ${MAX_TEXT} characters.` };
        case "description": return { description: `The description must be plain text of at most ${MAX_DESCRIPTION.toLocaleString()} characters, without control characters.` };
        case "totalTickets": return { totalTickets: `Seats must be a whole number from 1 to ${MAX_SEATS.toLocaleString()}.` };
        case "perUserLimit": return { perUserLimit: `The limit per buyer must be a whole number from 1 to ${MAX_LIMIT}.` };
        case "startsAt": return { startsAt: "Pick a date between 2000 and 2100." };
        case "saleStartsAt": return { saleStartsAt: "Pick a date between 2000 and 2100." };
        default: return { form: "Some of these values are not accepted. Check them and try again." };
      }
    default:
      return { form: explain(error) };
  }
}

interface Props {
  initial?: TicketEvent;
  submitLabel: string;
  /** Saves the event; a refusal is thrown (an ApiError) and shown in the form. */
  onSubmit: (input: EventInput) => Promise<void>;
}

export function EventForm({ initial, submitLabel, onSubmit }: Props) {
  const [name, setName] = useState(initial?.name ?? "");
  const [venue, setVenue] = useState(initial?.venue ?? "");
  const [description, setDescription] = useState(initial?.description ?? "");
  // Exactly what the organizer typed, empty included: checked on submit, never rewritten.
  const [totalTickets, setTotal] = useState<Typed>(initial?.totalTickets ?? 100);
  // Empty: no limit per buyer (an event read without one shows empty).
  const [perUserLimit, setLimit] = useState<Typed>(initial ? initial.perUserLimit ?? "" : 4);
  const [startsAt, setStartsAt] = useState(toLocalInput(initial?.startsAt));
  const [saleStartsAt, setSaleStartsAt] = useState(toLocalInput(initial?.saleStartsAt));
  const [problems, setProblems] = useState<Problems>({});
  const [saving, setSaving] = useState(false);
  // What was sold when the form opened; more may sell before Save, and the server then
  // refuses a capacity below it (409 capacity_below_sold).
  const sold = initial ? initial.totalTickets - initial.availableTickets : 0;

  const check = (): Problems => {
    const found: Problems = {};
    if (!name.trim()) found.name = "Give the event a name.";
    const written = descriptionLength(description);
    if (written > MAX_DESCRIPTION) {
      found.description = `The description can have at most ${MAX_DESCRIPTION.toLocaleString()} characters; this one has ${written.toLocaleString()}.`;
    }
    const seats = wholeNumber(totalTickets);
    // An empty limit is no limit per buyer; anything else must be a sensible number.
    const limited = String(perUserLimit).trim() !== "";
    const limit = wholeNumber(perUserLimit);
    if (seats === null || seats < 1) found.totalTickets = "Seats must be a whole number, 1 or more.";
    else if (seats > MAX_SEATS) found.totalTickets = `At most ${MAX_SEATS.toLocaleString()} seats.`;
    else if (seats < sold) found.totalTickets = `Seats cannot go below what is already sold (${sold}).`;
    if (limited && (limit === null || limit < 1)) {
      found.perUserLimit = "The limit per buyer must be a whole number, 1 or more (or empty: no limit).";
    } else if (limit !== null && limit > MAX_LIMIT) {
      found.perUserLimit = `At most ${MAX_LIMIT} per buyer (or empty: no limit).`;
    } else if (limit !== null && seats !== null && seats >= 1 && limit > seats) {
      found.perUserLimit = `The limit per buyer cannot be more than the ${seats} seats.`;
    }
    if (startsAt && saleStartsAt && new Date(saleStartsAt) >= new Date(startsAt)) {
      found.saleStartsAt = "Sales must open before the event starts.";
    }
    return found;
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const found = check();
    setProblems(found);
    if (Object.keys(found).length) return;
    setSaving(true);
    try {
      await onSubmit({
        name: name.trim(), venue: venue.trim() || null,
        // An event read from the list carries no description: leave the stored one alone.
        ...(initial && initial.description === undefined ? {} : { description }),
        totalTickets: wholeNumber(totalTickets)!, perUserLimit: wholeNumber(perUserLimit),
        startsAt: toIso(startsAt), saleStartsAt: toIso(saleStartsAt),
      });
    } catch (error) {
      setProblems(serverProblem(error, sold));
    } finally {
      setSaving(false);
    }
  };

  /** Editing a field clears what was said about it. */
  const edited = (field: Field) => setProblems(({ [field]: _, form: __, ...rest }) => rest);

  return (
    <form onSubmit={(e) => void submit(e)} noValidate>
      <Stack gap="sm">
        <TextInput label="Name" required maxLength={MAX_TEXT} value={name} error={problems.name}
          onChange={(e) => { setName(e.currentTarget.value); edited("name"); }} />
        {/* No maxLength: a longer text is kept as typed or pasted, and said to be too long. */}
        <Textarea label="Description" autosize minRows={3} maxRows={10} value={description}
          description={`Plain text; line breaks are kept. ${descriptionLength(description).toLocaleString()} of ${MAX_DESCRIPTION.toLocaleString()} characters.`}
          error={problems.description}
          onChange={(e) => { setDescription(e.currentTarget.value); edited("description"); }} />
        <TextInput label="Venue" maxLength={MAX_TEXT} value={venue} error={problems.venue}
          onChange={(e) => { setVenue(e.currentTarget.value); edited("venue"); }} />
        <Group grow align="flex-start">
          <NumberInput label="Seats" required min={Math.max(1, sold)} max={MAX_SEATS} value={totalTickets}
            clampBehavior="none" allowDecimal={false} error={problems.totalTickets}
            description={initial ? `${sold} already sold` : undefined}
            onChange={(v) => { setTotal(v); edited("totalTickets"); }} />
          <NumberInput label="Limit per buyer" min={1} max={MAX_LIMIT} value={perUserLimit}
            description="empty: no limit"
            clampBehavior="none" allowDecimal={false} error={problems.perUserLimit}
            onChange={(v) => { setLimit(v); edited("perUserLimit"); }} />
        </Group>
        <Group grow align="flex-start">
          <TextInput type="datetime-local" label="Starts at" value={startsAt} error={problems.startsAt}
            onChange={(e) => { setStartsAt(e.currentTarget.value); edited("startsAt"); }} />
          <TextInput type="datetime-local" label="Sales open at" description="empty: now" value={saleStartsAt}
            error={problems.saleStartsAt}
            onChange={(e) => { setSaleStartsAt(e.currentTarget.value); edited("saleStartsAt"); }} />
        </Group>
        {problems.form && <Alert color="red" role="alert">{problems.form}</Alert>}
        <Group justify="flex-end">
          <Button type="submit" loading={saving}>{submitLabel}</Button>
        </Group>
      </Stack>
    </form>
  );
}
