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

interface SessionState {
  session: Session | null;
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

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(stored);

  /** Forget the session here (and so in every tab), without asking the server. */
  const forget = useCallback(() => {
    localStorage.removeItem(STORAGE_KEY);
    setSession(null);
  }, []);

  const logout = useCallback(() => {
    const current = stored();
    forget();
    // Best effort: if the server cannot be reached the token still expires on its own.
    if (current) void api.logout(current.token).catch(() => undefined);
  }, [forget]);

  const login = useCallback(async (email: string, password: string) => {
    const next = await api.login(email, password);
    localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    setSession(next);
  }, []);

  useEffect(() => {
    if (!session) return;
    const timer = window.setTimeout(forget, Math.max(0, session.expiresAt - Date.now()));
    return () => window.clearTimeout(timer);
  }, [session, forget]);

  useEffect(() => {
    // Only the token that was refused: another tab may have signed in again meanwhile.
    setUnauthorizedHandler((token) => {
      if (stored()?.token === token) forget();
      else setSession(stored());
    });
    return () => setUnauthorizedHandler(null);
  }, [forget]);

  useEffect(() => {
    // Fired in every other tab of this origin when one changes the stored session.
    const onStorage = (e: StorageEvent) => {
      if (e.key === STORAGE_KEY || e.key === null) setSession(stored());
    };
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, []);

  const value = useMemo(() => ({ session, login, logout }), [session, login, logout]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession outside SessionProvider");
  return state;
}
