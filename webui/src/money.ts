// Prices as people read them. The API sends amounts as integers in the currency's minor unit
// (cents for EUR, yen for JPY, fils for KWD); Intl knows each currency's number of decimals.

/** "€12.50", "¥700", "KWD 1.250": `minor` units of `currency`, in `locale` (the browser's
 *  by default). */
export function formatAmount(minor: number, currency: string, locale?: string): string {
  const format = new Intl.NumberFormat(locale, { style: "currency", currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(minor / 10 ** digits);
}
