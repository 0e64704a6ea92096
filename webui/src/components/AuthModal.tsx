// Log in, or create a buyer account and log straight in.
import { useEffect, useState } from "react";
import { Alert, Button, Modal, PasswordInput, SegmentedControl, Stack, TextInput } from "@mantine/core";
import { ApiError, api, explain } from "../api";
import { useSession } from "../session";

interface Props {
  opened: boolean;
  onClose: () => void;
  /** Why the box opened by itself (the session ended), shown above the form. */
  notice?: string | null;
}

export function AuthModal({ opened, onClose, notice }: Props) {
  const { login } = useSession();
  const [mode, setMode] = useState<"login" | "register">("login");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // Every opening starts as "Log in", with nothing said about an earlier try.
  useEffect(() => {
    if (!opened) return;
    setMode("login");
    setError(null);
  }, [opened]);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "register") await api.register(email, password, name || undefined);
      await login(email, password);
      setPassword("");
      onClose();
    } catch (err) {
      if (!(err instanceof ApiError)) setError(String(err));
      else if (err.code === "invalid_credentials") setError("Wrong email or password.");
      else if (err.code === "email_taken") setError("An account with this email exists: log in instead.");
      else setError(explain(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal opened={opened} onClose={onClose} title={mode === "login" ? "Log in" : "Create an account"}
      closeButtonProps={{ "aria-label": "Close" }}>
      <form onSubmit={(e) => void submit(e)}>
        <Stack>
          {notice && <Alert color="yellow" role="alert">{notice}</Alert>}
          <SegmentedControl value={mode} onChange={(v) => {
            setMode(v as "login" | "register");
            setError(null);
          }}
            data={[{ label: "Log in", value: "login" }, { label: "Register", value: "register" }]} />
          {mode === "register" && (
            <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
          )}
          <TextInput label="Email" type="email" required autoComplete="email" value={email}
            onChange={(e) => setEmail(e.currentTarget.value)} />
          <PasswordInput label="Password" required value={password}
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            description={mode === "register" ? "At least 8 characters" : undefined}
            onChange={(e) => setPassword(e.currentTarget.value)} />
          {error && <Alert color="red">{error}</Alert>}
          <Button type="submit" loading={busy}>{mode === "login" ? "Log in" : "Create account"}</Button>
        </Stack>
      </form>
    </Modal>
  );
}
