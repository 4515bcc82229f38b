/**
 * Keyset pagination, shared by every listing the console pages through (accounts, ledger entries, catalog
 * models, sync runs): the next page starts after the last row seen and is read through an index, never with
 * OFFSET, which reads and throws away every row before the page (slower the deeper one pages).
 */
export interface Page<T> {
  data: T[];
  /** Pass it back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export const MAX_PAGE_SIZE = 500;

/** A cursor the caller passed that no page ever handed out. */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
  constructor(readonly cursor: string) {
    super(`invalid cursor ${JSON.stringify(cursor)}: pass back the next_cursor of the previous page`);
  }
}

/** Cursors are opaque to callers (base64url of the last row's key), so their shape can change without breaking anyone. */
export function encodeCursor(key: string | number): string {
  return Buffer.from(String(key), 'utf8').toString('base64url');
}

/** @throws InvalidCursorError */
export function decodeCursor(cursor: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursorError(cursor);
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

/** @throws InvalidCursorError when the cursor does not hold a row id. */
export function decodeIdCursor(cursor: string): number {
  const id = Number(decodeCursor(cursor));
  if (!Number.isSafeInteger(id)) throw new InvalidCursorError(cursor);
  return id;
}

/** A page size within 1..MAX_PAGE_SIZE. */
export function pageSize(limit: number): number {
  return Math.min(Math.max(1, Math.trunc(limit)), MAX_PAGE_SIZE);
}

/** Splits the `limit + 1` rows a page query read into the page and the cursor after it. */
export function toPage<Row, T>(rows: Row[], limit: number, key: (row: Row) => string | number, map: (row: Row) => T): Page<T> {
  const page = rows.slice(0, limit);
  return { data: page.map(map), nextCursor: rows.length > limit ? encodeCursor(key(page[page.length - 1]!)) : null };
}

/** `%` and `_` in a search are the characters themselves, not LIKE's wildcards. */
export function likeContaining(text: string): string {
  return `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
}
