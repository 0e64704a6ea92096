// The provider's extra step (3-D Secure) of a held booking's payment: the bank asks the buyer
// to confirm. With the fake provider the step is a test bank right here, marked as such, with
// its two answers; with a real one, a link to the provider's page. Either way the buyer comes
// back to "Check the payment", which sends the same pay request again (same key: no second
// charge) and so hears how the step ended; the stream may say it first (a webhook). The
// buyer may instead use another card: back to the card form, whose pay (a new key) has the
// engine cancel this step at the provider before charging the new card.
import { useState } from "react";
import { Button, Group, Paper, Stack, Text } from "@mantine/core";
import { ApiError, api, explain } from "../api";

/** Where the fake provider's steps are ended (the gateway serves them for it). */
const FAKE_STEP = /^\/api\/fake-provider\/actions\/[^/]+\/complete$/;

interface Props {
  /** The step's `nextAction.url`. */
  url: string;
  /** Send the pay request again and act on its answer. */
  onCheck: () => Promise<void>;
  /** Leave the step for the card form (another card: the engine cancels this step). */
  onOtherCard: () => void;
}

export function BankStep({ url, onCheck, onOtherCard }: Props) {
  const [busy, setBusy] = useState<"succeeded" | "failed" | "check" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const fake = FAKE_STEP.test(url);

  const run = async (what: "succeeded" | "failed" | "check") => {
    setBusy(what);
    setError(null);
    try {
      if (what !== "check") {
        try {
          await api.endFakeBankStep(url, what);
        } catch (e) {
          // Ended already (another tab, an earlier click): asking again tells how.
          if (!(e instanceof ApiError && e.code === "action_not_pending")) throw e;
        }
      }
      await onCheck();
    } catch (e) {
      setError(e instanceof ApiError ? explain(e) : String(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <Stack gap="xs" data-testid="bank-step">
      <Text size="sm" role="status">
        Your bank asks you to confirm this payment. Nothing is charged until you do; the seats
        stay held meanwhile.
      </Text>
      {fake ? (
        <Paper withBorder p="sm" radius="sm" role="group" aria-label="Test bank">
          <Text size="sm" fw={600}>Test bank — no money moves</Text>
          <Text size="sm" c="dimmed" mb="xs">
            The fake payment provider's stand-in for a bank's 3-D Secure page.
          </Text>
          <Group gap="xs">
            <Button size="xs" loading={busy === "succeeded"} disabled={busy !== null}
              onClick={() => void run("succeeded")}>Confirm the payment</Button>
            <Button size="xs" variant="default" loading={busy === "failed"} disabled={busy !== null}
              onClick={() => void run("failed")}>Refuse it</Button>
          </Group>
        </Paper>
      ) : (
        <Group gap="xs">
          <Button size="xs" component="a" href={url} target="_blank" rel="noopener">
            Continue to your bank
          </Button>
          <Button size="xs" variant="default" loading={busy === "check"} disabled={busy !== null}
            onClick={() => void run("check")}>I have confirmed — check the payment</Button>
        </Group>
      )}
      <Group gap="xs">
        <Button size="xs" variant="default" disabled={busy !== null} onClick={onOtherCard}>
          Use another card
        </Button>
        <Text size="xs" c="dimmed">Paying with another card cancels this bank step.</Text>
      </Group>
      {error && <Text size="sm" c="red.9" role="alert">{error}</Text>}
    </Stack>
  );
}
