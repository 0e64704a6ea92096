// Small hooks every page uses: its own document title, and a clock that ticks.
import { useEffect, useState } from "react";

/** Each page its own title (tabs, history, screen readers): "<what> · Ticket War". */
export function useTitle(what: string): void {
  useEffect(() => {
    document.title = `${what} · Ticket War`;
  }, [what]);
}

/** Date.now(), re-read every `ms` while the component is shown (countdowns). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}
