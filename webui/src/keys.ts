// Idempotency-Keys for forms: a retry of the same submission must reuse its key, a changed
// submission must not (the server refuses a key reused with other fields).

/** The key of a form's submission: the draft's own random part (new each time the form is
 *  opened) and a fingerprint of what is sent, so pressing the button again after an answer
 *  that got lost (`504 outcome_unknown`, a dropped connection) finds what the first press
 *  made, while an edited form is a request of its own. */
export function formKey(draft: string, input: unknown): string {
  return `${draft}:${fingerprint(JSON.stringify(input, sortedKeys) ?? "")}`;
}

/** A JSON.stringify replacer that writes every object's keys in order. */
function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** FNV-1a over the UTF-16 code units, 32 bits as 8 hex digits: a label, not a secret. */
function fingerprint(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
