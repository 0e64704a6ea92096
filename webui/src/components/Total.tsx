// One total on the organizer's event page: a small label over a large number.
import { Card, Text } from "@mantine/core";

interface Props {
  label: string;
  value: string | number;
  testId: string;
}

export function Total({ label, value, testId }: Props) {
  return (
    <Card withBorder padding="sm">
      <Text size="xs" c="dimmed">{label}</Text>
      <Text fz="xl" fw={700} data-testid={testId}>{value}</Text>
    </Card>
  );
}
