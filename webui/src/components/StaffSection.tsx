// An organizer's door staff for one event: add an account by email, see who may check
// tickets in, take the right away. The accounts keep their role; the right is for this
// event's door only.
import { useCallback, useEffect, useState } from "react";
import { Button, Card, Group, List, Stack, Text, TextInput, Title } from "@mantine/core";
import { ApiError, api, explain } from "../api";
import type { StaffMember } from "../api";

export function StaffSection({ token, eventId }: { token: string; eventId: number }) {
  const [staff, setStaff] = useState<StaffMember[] | null>(null);
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setStaff(await api.staff(token, eventId));
    } catch (e) {
      setProblem(e instanceof ApiError ? explain(e) : String(e));
    }
  }, [token, eventId]);
  useEffect(() => {
    void load();
  }, [load]);

  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    setProblem(null);
    try {
      await what();
      await load();
      return true;
    } catch (e) {
      setProblem(e instanceof ApiError ? explain(e) : String(e));
      return false;
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card withBorder component="section" aria-labelledby="staff-title" data-testid="staff">
      <Stack gap="xs">
        <Title order={3} size="h4" id="staff-title">Door staff</Title>
        <Text size="sm" c="dimmed">
          They may check this event's tickets in at its door page, with their own account.
        </Text>
        <form onSubmit={(e) => {
          e.preventDefault();
          const typed = email.trim();
          if (typed) void act(() => api.addStaff(token, eventId, typed)).then((ok) => ok && setEmail(""));
        }}>
          <Group align="flex-end">
            <TextInput label="Staff email" type="email" value={email} required w={280} maw="100%"
              onChange={(e) => setEmail(e.currentTarget.value)} />
            <Button type="submit" loading={busy}>Add</Button>
          </Group>
        </form>
        {problem && <Text size="sm" c="red.9" role="alert">{problem}</Text>}
        {staff === null ? <Text size="sm" c="dimmed">Loading…</Text>
          : staff.length === 0 ? <Text size="sm">No door staff yet.</Text> : (
            <List spacing={4} listStyleType="none" ml={0} pl={0}>
              {staff.map((m) => (
                <List.Item key={m.userId} data-testid="staff-member">
                  <Group gap="xs">
                    <Text size="sm">{m.name ? `${m.name} (${m.email})` : m.email}</Text>
                    <Button size="compact-xs" variant="light" color="red" disabled={busy}
                      aria-label={`Remove ${m.email}`}
                      onClick={() => void act(() => api.removeStaff(token, eventId, m.userId))}>
                      Remove
                    </Button>
                  </Group>
                </List.Item>
              ))}
            </List>
          )}
      </Stack>
    </Card>
  );
}
