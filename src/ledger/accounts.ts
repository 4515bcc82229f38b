import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { AccountRow, AccountStatus, BudgetMode, LedgerEntryRow, Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { AccountNotFoundError } from './errors.js';

/** The unit an account's balance is kept in: tokens for `consumption_tokens`, USD otherwise (job_based debits USD). */
export type LedgerUnit = 'usd' | 'tokens';

export interface Account {
  id: string;
  name: string;
  mode: BudgetMode;
  unit: LedgerUnit;
  /** Σ grant, capture, refund and adjust entries. */
  balance: Decimal;
  /** balance − open holds: what a new hold can take. */
  available: Decimal;
  /** USD debited per successful call, for `job_based`. */
  jobPrice: Decimal | null;
  markupPercent: Decimal | null;
  markupFixedFee: Decimal | null;
  status: AccountStatus;
  /** How far below zero a capture may take the balance; zero means never. */
  overdraftLimit: Decimal;
  /** A team account's parent (its credits are the root of its chain's); null for an account with its own wallet. */
  parentId: string | null;
  lowBalanceAlert: Decimal | null;
  createdAt: Date;
}

export interface LedgerEntry {
  id: number;
  accountId: string;
  kind: LedgerEntryRow['kind'];
  /** Signed effect on the balance for grant/capture/refund/adjust; the held amount for hold/release. */
  amount: Decimal;
  unit: LedgerUnit;
  requestId: string;
  /** On a capture drawn on a credit lease: the lease's request id (its hold and release entries). */
  leaseId: string | null;
  idempotencyKey: string | null;
  priceVersion: number | null;
  note: string | null;
  createdAt: Date;
}

export const BUDGET_MODES: readonly BudgetMode[] = ['consumption_usd', 'consumption_tokens', 'job_based'];

export function unitOf(mode: BudgetMode): LedgerUnit {
  return mode === 'consumption_tokens' ? 'tokens' : 'usd';
}

export function accountFromRow(row: AccountRow): Account {
  return {
    id: row.id,
    name: row.name,
    mode: row.budget_mode,
    unit: unitOf(row.budget_mode),
    balance: fromNumeric(row.balance),
    available: fromNumeric(row.available),
    jobPrice: optionalDecimal(row.job_price),
    markupPercent: optionalDecimal(row.markup_percent),
    markupFixedFee: optionalDecimal(row.markup_fixed_fee),
    status: row.status,
    overdraftLimit: fromNumeric(row.overdraft_limit),
    parentId: row.parent_id,
    lowBalanceAlert: optionalDecimal(row.low_balance_alert),
    createdAt: new Date(row.created_at),
  };
}

export function entryFromRow(row: LedgerEntryRow): LedgerEntry {
  return {
    id: row.id,
    accountId: row.account_id,
    kind: row.kind,
    amount: fromNumeric(row.amount),
    unit: row.unit,
    requestId: row.request_id,
    leaseId: row.lease_id,
    idempotencyKey: row.idempotency_key,
    priceVersion: row.price_version,
    note: row.note,
    createdAt: new Date(row.created_at),
  };
}

function optionalDecimal(text: string | null): Decimal | null {
  return text === null ? null : fromNumeric(text);
}

/** A NUMERIC column's text as a Decimal without trailing zeros (NUMERIC keeps its scale: 10.50 + 0 is 10.50). */
export function fromNumeric(text: string): Decimal {
  return Decimal.parse(text).add(Decimal.ZERO);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random base62 text from a CSPRNG, without modulo bias (bytes ≥ 248 are redrawn). */
export function randomBase62(length: number): string {
  let text = '';
  while (text.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && text.length < length) text += BASE62[byte % 62];
    }
  }
  return text;
}

export function newAccountId(): string {
  return `acct_${randomBase62(16)}`;
}

/** Finds an account by id or, failing that, by name. @throws AccountNotFoundError */
export async function findAccountRow(
  db: Kysely<Schema> | Transaction<Schema>,
  idOrName: string,
  options: { forUpdate?: boolean } = {},
): Promise<AccountRow> {
  let query = db
    .selectFrom('accounts')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    // An id match wins over an account whose name happens to equal another's id.
    .orderBy((eb) => eb.case().when('id', '=', idOrName).then(0).else(1).end())
    .limit(1);
  if (options.forUpdate) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw new AccountNotFoundError(idOrName);
  return row;
}
