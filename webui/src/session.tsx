// The signed-in buyer or organizer, kept in localStorage so a reload keeps the session and
// every tab of the browser shares it. It is dropped when the token expires, when the server
// refuses it (401: signed out elsewhere, role or password changed), and on "Log out", which
// also ends it on the server. Dropping it in one tab drops it in all of them: the others
// hear the change through the `storage` event.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { api, setUnauthorizedHandler } from "./api";
import type { Session } from "./api";

const STORAGE_KEY = "ticketwar.session";
/** Why the last session ended when the user did not log out themselves (read by other tabs). */
const ENDED_KEY = "ticketwar.ended";

export const SESSION_REFUSED =
  "Your session has ended: you were signed out elsewhere, or your account changed. Log in again to continue.";
export const SESSION_EXPIRED = "Your session expired. Log in again to continue.";

interface SessionState {
  session: Session | null;
  /** Why the session ended without the user asking (refused by the server, expired), until
   *  they log in again or dismiss it. */
  ended: string | null;
  dismissEnded: () => void;
  login: (email: string, password: string) => Promise<void>;
  logout: () => void;
}

const SessionContext = createContext<SessionState | null>(null);

function stored(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    const session = raw ? (JSON.parse(raw) as Session) : null;
    return session && session.expiresAt > Date.now() ? session : null;
  } catch {
    return null;
  }
}

/** Why there is no session at start-up: one was kept but has expired since (the tab was
 *  closed, the computer asleep), or another tab recorded why it ended. */
function endedBefore(): string | null {
  // Recorded before the stale session goes, so that asking twice gives the same answer.
  if (localStorage.getItem(STORAGE_KEY) !== null && stored() === null) {
    localStorage.setItem(ENDED_KEY, SESSION_EXPIRED);
    localStorage.removeItem(STORAGE_KEY);
  }
  return localStorage.getItem(ENDED_KEY);
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(stored);
  const [ended, setEnded] = useState<string | null>(endedBefore);

  /** Forget the session here (and so in every tab), without asking the server; `why`, when
   *  the user did not ask for it, is told in every tab. */
  const forget = useCallback((why: string | null) => {
    if (why) localStorage.setItem(ENDED_KEY, why);
    else localStorage.removeItem(ENDED_KEY);
    localStorage.removeItem(STORAGE_KEY);
    setSession(null);
    setEnded(why);
  }, []);

  const dismissEnded = useCallback(() => {
    localStorage.removeItem(ENDED_KEY);
    setEnded(null);
  }, []);

  const logout = useCallback(() => {
    const current = stored();
    forget(null);
    // Best effort: if the server cannot be reached the token still expires on its own.
    if (current) void api.logout(current.token).catch(() => undefined);
  }, [forget]);

  const login = useCallback(async (email: string, password: string) => {
    const next = await api.login(email, password);
    localStorage.removeItem(ENDED_KEY);
    localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    setSession(next);
    setEnded(null);
  }, []);

  useEffect(() => {
    if (!session) return;
    const timer = window.setTimeout(() => forget(SESSION_EXPIRED),
      Math.max(0, session.expiresAt - Date.now()));
    return () => window.clearTimeout(timer);
  }, [session, forget]);

  useEffect(() => {
    // Only the token that was refused: another tab may have signed in again meanwhile.
    setUnauthorizedHandler((token) => {
      if (stored()?.token === token) forget(SESSION_REFUSED);
      else setSession(stored());
    });
    return () => setUnauthorizedHandler(null);
  }, [forget]);

  useEffect(() => {
    // Fired in every other tab of this origin when one changes the stored session.
    const onStorage = (e: StorageEvent) => {
      if (e.key !== STORAGE_KEY && e.key !== null) return;
      const now = stored();
      setSession(now);
      setEnded(now ? null : localStorage.getItem(ENDED_KEY));
    };
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, []);

  const value = useMemo(() => ({ session, ended, dismissEnded, login, logout }),
    [session, ended, dismissEnded, login, logout]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession outside SessionProvider");
  return state;
}
