// Organizers (VENDOR) create events and edit their own; ADMIN sees and edits all.
import { useState } from "react";
import { Alert, Anchor, Badge, Button, Card, Group, Modal, Stack, Table, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import { ApiError, api, explain } from "../api";
import type { EventInput, Session, TicketEvent } from "../api";
import { EventForm } from "../components/EventForm";
import { newKey } from "../booking";
import { formKey } from "../keys";
import { useTitle } from "../page";
import { paths } from "../routes";

interface Props {
  session: Session;
  events: TicketEvent[];
  onChanged: () => void;
}

export function OrganizerPage({ session, events, onChanged }: Props) {
  useTitle("Organize");
  const [editing, setEditing] = useState<TicketEvent | null>(null);
  const [creating, setCreating] = useState(false);
  // One draft per opening of the form: pressing Create again with the same fields (after a
  // lost answer) reuses the key, so the event is made once.
  const [draft, setDraft] = useState(newKey);
  const [message, setMessage] = useState<{ color: string; text: string } | null>(null);
  const mine = events.filter((e) => session.user.role === "ADMIN" || e.vendorId === session.user.id);

  // A refusal is thrown back to the form, which shows it inside the dialog by its field.
  const run = async (work: () => Promise<TicketEvent>, done: string) => {
    const event = await work();
    setMessage({ color: "green", text: `${done}: ${event.name}` });
    setEditing(null);
    setCreating(false);
    onChanged();
  };

  const create = (input: EventInput) =>
    run(() => api.createEvent(session.token, input, formKey(draft, input)), "Created");
  // The list leaves descriptions out: the form edits the event as read on its own.
  const openEdit = async (listed: TicketEvent) => {
    try {
      setEditing(await api.event(listed.id));
    } catch (error) {
      setMessage({ color: "red", text: `${listed.name} could not be opened: ${error instanceof ApiError ? explain(error) : String(error)}` });
    }
  };
  const update = (input: EventInput) =>
    run(() => api.updateEvent(session.token, editing!.id, input), "Saved");

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Your events</Title>
        <Button onClick={() => { setDraft(newKey()); setCreating(true); }}>New event</Button>
      </Group>
      {message && (
        <Alert color={message.color} withCloseButton onClose={() => setMessage(null)}>{message.text}</Alert>
      )}
      {mine.length === 0 ? (
        <Text c="dimmed">You have no events yet.</Text>
      ) : (
        <Card withBorder padding={0}>
          <Table.ScrollContainer minWidth={340} type="native">
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Event</Table.Th>
                <Table.Th>Sold</Table.Th>
                <Table.Th visibleFrom="sm">Left</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {mine.map((e) => (
                <Table.Tr key={e.id} data-testid={`own-event-${e.id}`}>
                  <Table.Td><Anchor component={Link} to={paths.organizeEvent(e.id)}>{e.name}</Anchor></Table.Td>
                  <Table.Td>{e.totalTickets - e.availableTickets} / {e.totalTickets}</Table.Td>
                  <Table.Td visibleFrom="sm">{e.availableTickets}</Table.Td>
                  <Table.Td><Badge variant="light" style={{ flexShrink: 0, overflow: "visible" }}>{e.status.replace("_", " ")}</Badge></Table.Td>
                  <Table.Td><Button size="xs" variant="light" onClick={() => void openEdit(e)}>Edit</Button></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          </Table.ScrollContainer>
        </Card>
      )}
      <Modal opened={creating} onClose={() => setCreating(false)} title="New event"
        closeButtonProps={{ "aria-label": "Close" }}>
        <EventForm submitLabel="Create event" onSubmit={create} />
      </Modal>
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title="Edit event"
        closeButtonProps={{ "aria-label": "Close" }}>
        {editing && <EventForm initial={editing} submitLabel="Save" onSubmit={update} />}
      </Modal>
    </Stack>
  );
}
