/** Times in UTC, the zone the ledger and the reports' day and month buckets use. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

export function formatDay(iso: string): string {
  return iso.slice(0, 10);
}

/** Midnight UTC of the day `at` falls in. */
export function startOfDay(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}

/** The first instant of the UTC month `at` falls in. */
export function startOfMonth(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/** "2026-11" for the month `at` falls in. */
export function monthOf(at: Date): string {
  return at.toISOString().slice(0, 7);
}
