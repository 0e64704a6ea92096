// Create or edit an event (organizers). Dates use the browser's own date-time picker.
import { useState } from "react";
import { Button, Group, NumberInput, Stack, TextInput } from "@mantine/core";
import type { EventInput, TicketEvent } from "../api";

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

interface Props {
  initial?: TicketEvent;
  submitLabel: string;
  onSubmit: (input: EventInput) => Promise<void>;
}

export function EventForm({ initial, submitLabel, onSubmit }: Props) {
  const [name, setName] = useState(initial?.name ?? "");
  const [venue, setVenue] = useState(initial?.venue ?? "");
  const [totalTickets, setTotal] = useState<number>(initial?.totalTickets ?? 100);
  const [perUserLimit, setLimit] = useState<number>(initial?.perUserLimit ?? 4);
  const [startsAt, setStartsAt] = useState(toLocalInput(initial?.startsAt));
  const [saleStartsAt, setSaleStartsAt] = useState(toLocalInput(initial?.saleStartsAt));
  const [saving, setSaving] = useState(false);
  // What was sold when the form opened; more may sell before Save, and the server then
  // refuses a capacity below it (409 capacity_below_sold).
  const sold = initial ? initial.totalTickets - initial.availableTickets : 0;

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSaving(true);
    try {
      await onSubmit({
        name: name.trim(), venue: venue.trim() || null, totalTickets, perUserLimit,
        startsAt: toIso(startsAt), saleStartsAt: toIso(saleStartsAt),
      });
    } finally {
      setSaving(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)}>
      <Stack gap="sm">
        <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <TextInput label="Venue" value={venue} onChange={(e) => setVenue(e.currentTarget.value)} />
        <Group grow align="flex-start">
          <NumberInput label="Seats" required min={Math.max(1, sold)} value={totalTickets}
            description={initial ? `${sold} already sold` : undefined}
            onChange={(v) => setTotal(typeof v === "number" ? v : 0)} />
          <NumberInput label="Limit per buyer" required min={1} value={perUserLimit}
            onChange={(v) => setLimit(typeof v === "number" ? v : 1)} />
        </Group>
        <Group grow align="flex-start">
          <TextInput type="datetime-local" label="Starts at" value={startsAt}
            onChange={(e) => setStartsAt(e.currentTarget.value)} />
          <TextInput type="datetime-local" label="Sales open at" description="empty: now" value={saleStartsAt}
            onChange={(e) => setSaleStartsAt(e.currentTarget.value)} />
        </Group>
        <Group justify="flex-end">
          <Button type="submit" loading={saving}>{submitLabel}</Button>
        </Group>
      </Stack>
    </form>
  );
}
