// The time until an event's sale opens, on its page or inside its waiting-room panel:
// "Sales open in 01:02:03", ticking each second for the eye and silent to screen readers
// (`aria-live="off"`), while a polite live region says it in coarse steps (about 30 minutes,
// 5 minutes, 30 seconds: dates.ts `spokenTimeLeft`), so a buyer who keeps the page open hears
// the sale come closer without a word each second.
import { useEffect } from "react";
import { Text, VisuallyHidden } from "@mantine/core";
import { countdown, longDate, spokenTimeLeft } from "../dates";
import { useNow } from "../page";

interface Props {
  opensAt: string;
  /** Called once the moment has come (the page reads the event again). */
  onOpen?: () => void;
}

/** The countdown, and nothing once the sale has opened. */
export function SaleCountdown({ opensAt, onOpen }: Props) {
  const now = useNow(1000);
  const ms = Date.parse(opensAt) - now;
  const left = countdown(ms);
  useEffect(() => {
    if (left === null) onOpen?.();
  }, [left, onOpen]);
  if (left === null) return null;
  return (
    <>
      <Text size="sm" c="blue.9" data-testid="countdown" role="timer" aria-live="off">
        Sales open in <b>{left}</b> ({longDate(opensAt)})
      </Text>
      <VisuallyHidden aria-live="polite" aria-atomic="true" data-testid="countdown-announcement">
        {`The sale opens in ${spokenTimeLeft(ms)}.`}
      </VisuallyHidden>
    </>
  );
}
