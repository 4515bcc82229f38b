import type { Kysely } from 'kysely';
import type { AccountStatus, LedgerKind, Schema } from '../db/schema.js';
import { decodeCursor, decodeIdCursor, likeContaining, pageSize, toPage, type Page } from '../db/keyset-pages.js';
import { accountFromRow, entryFromRow, findAccountRow, type Account, type LedgerEntry } from './accounts.js';

/**
 * Accounts by name (names are unique), optionally those whose name contains `search` (any case) or whose id
 * is `search`, and of one status. @throws InvalidCursorError
 */
export async function pageAccounts(
  db: Kysely<Schema>,
  options: { limit: number; cursor?: string; search?: string; status?: AccountStatus },
): Promise<Page<Account>> {
  const limit = pageSize(options.limit);
  let query = db.selectFrom('accounts').selectAll();
  if (options.search) {
    const search = options.search;
    query = query.where((eb) => eb.or([eb('name', 'ilike', likeContaining(search)), eb('id', '=', search)]));
  }
  if (options.status) query = query.where('status', '=', options.status);
  if (options.cursor !== undefined) query = query.where('name', '>', decodeCursor(options.cursor));
  const rows = await query
    .orderBy('name')
    .limit(limit + 1)
    .execute();
  return toPage(rows, limit, (row) => row.name, accountFromRow);
}

/**
 * An account's ledger entries, newest first, optionally of some kinds only (read through the
 * `ledger_entries_account` index). @throws AccountNotFoundError, InvalidCursorError
 */
export async function pageEntries(
  db: Kysely<Schema>,
  account: string,
  options: { limit: number; cursor?: string; kinds?: LedgerKind[] },
): Promise<Page<LedgerEntry>> {
  const limit = pageSize(options.limit);
  const found = await findAccountRow(db, account);
  let query = db.selectFrom('ledger_entries').selectAll().where('account_id', '=', found.id);
  if (options.kinds?.length) query = query.where('kind', 'in', options.kinds);
  if (options.cursor !== undefined) query = query.where('id', '<', decodeIdCursor(options.cursor));
  const rows = await query
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  return toPage(rows, limit, (row) => row.id, entryFromRow);
}
