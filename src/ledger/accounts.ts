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

/** A markup of an account's own: the row's percent and fixed fee (a part left unset is zero). */
export interface AccountMarkup {
  percent?: Decimal;
  fixedFee?: Decimal;
}

/**
 * What a call on an account is billed under, from the account and the root of its chain (its wallet):
 * - the wallet pays: its budget mode and unit, its balance;
 * - the job price is the account's own, else the wallet's;
 * - the markup is the account's own, else the wallet's. An account's own markup is either part of
 *   `accounts.markup_percent` / `markup_fixed_fee` set (not null; "0" is a markup of zero, set), or a
 *   `markup_rules` row of scope `account` for it. Below that, model, provider and global rules apply as usual.
 */
export interface BillingTerms {
  account: Account;
  /** The account first, its parents after, the wallet last (one element: the account is its own wallet). */
  chain: Account[];
  wallet: Account;
  jobPrice: Decimal | undefined;
  /**
   * The markup to apply as the account's own (the wallet's, for a team account without one); undefined: no
   * markup of the account's row, so the markup rules decide (the account's own `markup_rules` row first).
   */
  markup: AccountMarkup | undefined;
  /**
   * For a team account, the level whose markup applies (the account, or its wallet); undefined when neither has
   * one, and for an account without a row markup that is its own wallet (its rules decide).
   */
  markupFrom: Account | undefined;
}

/** @throws AccountNotFoundError */
export async function billingTerms(db: Kysely<Schema>, idOrName: string): Promise<BillingTerms> {
  const account = accountFromRow(await findAccountRow(db, idOrName));
  const chain = [account];
  for (let level = account; level.parentId !== null && !chain.some((known) => known.id === level.parentId);) {
    const parent = await db.selectFrom('accounts').selectAll().where('id', '=', level.parentId).executeTakeFirst();
    if (!parent) break;
    level = accountFromRow(parent);
    chain.push(level);
  }
  const wallet = chain[chain.length - 1]!;
  const terms = { account, chain, wallet, jobPrice: account.jobPrice ?? wallet.jobPrice ?? undefined };
  const own = rowMarkup(account);
  if (own || wallet === account) return { ...terms, markup: own, markupFrom: own ? account : undefined };
  // A team account without a row markup: its own markup rule, if it has one, still comes before the wallet's.
  const rules = await db
    .selectFrom('markup_rules')
    .select(['target', 'percent', 'fixed_fee'])
    .where('scope', '=', 'account')
    .where('target', 'in', [account.id, wallet.id])
    .execute();
  if (rules.some((rule) => rule.target === account.id)) return { ...terms, markup: undefined, markupFrom: account };
  const walletRow = rowMarkup(wallet);
  if (walletRow) return { ...terms, markup: walletRow, markupFrom: wallet };
  const walletRule = rules.find((rule) => rule.target === wallet.id);
  if (walletRule) {
    return {
      ...terms,
      markup: {
        percent: walletRule.percent === null ? Decimal.ZERO : fromNumeric(walletRule.percent),
        fixedFee: walletRule.fixed_fee === null ? Decimal.ZERO : fromNumeric(walletRule.fixed_fee),
      },
      markupFrom: wallet,
    };
  }
  return { ...terms, markup: undefined, markupFrom: undefined };
}

/** The row's own markup, or undefined when neither part is set. */
function rowMarkup(account: Account): AccountMarkup | undefined {
  if (account.markupPercent === null && account.markupFixedFee === null) return undefined;
  return {
    ...(account.markupPercent !== null ? { percent: account.markupPercent } : {}),
    ...(account.markupFixedFee !== null ? { fixedFee: account.markupFixedFee } : {}),
  };
}
