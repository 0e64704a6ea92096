// Number fields hold what the user typed, even while it is empty or out of range: the value is
// read (and refused with a reason) only when the form is submitted, never rewritten under the
// cursor.

/** What a Mantine NumberInput reports: a number, or the text when it is not one (e.g. ""). */
export type Typed = string | number;

/** The whole number in the field, or null when it holds something else (empty, "1.5"). */
export function wholeNumber(value: Typed): number | null {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : null;
  const text = value.trim();
  return /^-?\d{1,15}$/.test(text) ? Number(text) : null;
}
