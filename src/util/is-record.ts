/** A plain JSON object (not null, not an array): the check every parser of provider and client JSON needs. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
