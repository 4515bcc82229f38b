import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AccountStatus, BudgetMode, LedgerKind, Schema } from '../db/schema.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import {
  accountFromRow,
  BUDGET_MODES,
  entryFromRow,
  findAccountRow,
  newAccountId,
  unitOf,
  type Account,
  type LedgerEntry,
} from './accounts.js';
import { applyAdminOperation, type AdminOperationOptions, type AdminOperationResult } from './admin-operations.js';
import { createApiKey, type CreatedApiKey } from './api-keys.js';
import { AccountNameTakenError, checkEnteredAmount, InvalidAccountFieldError, isUniqueViolation } from './errors.js';
import {
  captureHold,
  openHoldTotals,
  releaseHold,
  staleHoldRequestIds,
  type CaptureInput,
  type CaptureOutcome,
} from './settlement.js';
import { placeHold } from './hold.js';
import { verifyLedger, type VerifyResult } from './verify.js';
import { accountChain, walletOf } from './limits.js';

export type { Account, LedgerEntry } from './accounts.js';
export type { CaptureInput, CaptureOutcome } from './settlement.js';
export type { VerifyResult, AccountVerification } from './verify.js';
export type { AdminOperationOptions, AdminOperationResult } from './admin-operations.js';

export interface CreateAccountInput {
  name: string;
  mode: BudgetMode;
  /** The initial grant, in the account's unit. */
  credits?: Decimal;
  jobPrice?: Decimal;
  markupPercent?: Decimal;
  markupFixedFee?: Decimal;
  overdraftLimit?: Decimal;
  /**
   * A team's parent (id or name): the new account draws on the balance of its chain's root (the wallet), in
   * the wallet's budget mode, within its own caps and every parent's. It has no credits of its own.
   */
  parent?: string;
  /** Below this available balance the account raises a low-balance alert. */
  lowBalanceAlert?: Decimal;
}

export interface AccountChanges {
  status?: AccountStatus;
  jobPrice?: Decimal | null;
  markupPercent?: Decimal | null;
  markupFixedFee?: Decimal | null;
  overdraftLimit?: Decimal;
  lowBalanceAlert?: Decimal | null;
}

/**
 * The credit ledger: accounts, admin credit operations, and hold → capture | release for every call. Each
 * operation is one database transaction that appends entries and updates the balance projections together;
 * `verify()` proves the projections equal the entries. See hold.ts and settlement.ts for the rules.
 */
export class Ledger {
  private readonly logger: Logger;

  constructor(
    readonly db: Kysely<Schema>,
    options: { logger?: Logger } = {},
  ) {
    this.logger = options.logger ?? silentLogger();
  }

  /**
   * Creates the account, its first user key and the initial grant in one transaction.
   * @throws AccountNameTakenError, InvalidAccountFieldError, InvalidAmountError
   */
  async createAccount(input: CreateAccountInput): Promise<{ account: Account; apiKey: CreatedApiKey }> {
    const name = input.name.trim();
    if (name === '') throw new InvalidAccountFieldError('name', 'must not be empty');
    if (!BUDGET_MODES.includes(input.mode)) {
      throw new InvalidAccountFieldError('mode', `must be one of ${BUDGET_MODES.join(', ')}, got ${JSON.stringify(input.mode)}`);
    }
    const parent = input.parent === undefined ? undefined : await findAccountRow(this.db, input.parent);
    if (parent) {
      if (parent.budget_mode !== input.mode) {
        throw new InvalidAccountFieldError(
          'mode',
          `a team account draws on its parent's balance, so it has its parent's mode ${parent.budget_mode}, not ${input.mode}`,
        );
      }
      if (input.credits?.isPositive()) {
        throw new InvalidAccountFieldError(
          'credits',
          `a team account has no credits of its own: grant them to its parent ${parent.name}`,
        );
      }
    }
    // A team's calls are charged its own job price, else its wallet's (the root of its chain), as the gateway does.
    if (input.mode === 'job_based' && !input.jobPrice && !(parent && (await walletOf(this.db, parent.id)).jobPrice)) {
      throw new InvalidAccountFieldError('job price', 'a job_based account needs a job price (USD per successful call)');
    }
    const unit = unitOf(input.mode);
    const credits = input.credits ?? Decimal.ZERO;
    checkEnteredAmount('credits', credits, { unit });
    for (const [field, value] of [
      ['job price', input.jobPrice],
      ['markup fixed fee', input.markupFixedFee],
      ['overdraft limit', input.overdraftLimit],
    ] as const) {
      if (value) checkEnteredAmount(field, value);
    }
    if (input.markupPercent) checkEnteredAmount('markup percent', input.markupPercent, { signed: true });
    if (input.lowBalanceAlert) checkEnteredAmount('low balance alert', input.lowBalanceAlert, { unit });
    const id = newAccountId();
    try {
      return await this.db.transaction().execute(async (transaction) => {
        const row = await transaction
          .insertInto('accounts')
          .values({
            id,
            name,
            budget_mode: input.mode,
            balance: credits.toString(),
            available: credits.toString(),
            job_price: input.jobPrice?.toString() ?? null,
            markup_percent: input.markupPercent?.toString() ?? null,
            markup_fixed_fee: input.markupFixedFee?.toString() ?? null,
            overdraft_limit: (input.overdraftLimit ?? Decimal.ZERO).toString(),
            status: 'active',
            parent_id: parent?.id ?? null,
            low_balance_alert: input.lowBalanceAlert?.toString() ?? null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        if (credits.isPositive()) {
          await transaction
            .insertInto('ledger_entries')
            .values({
              account_id: id,
              kind: 'grant',
              amount: credits.toString(),
              unit,
              request_id: `grant:${id}:initial`,
              note: 'initial credits',
            })
            .execute();
        }
        const apiKey = await createApiKey(transaction, { accountId: id, scope: 'user', name: 'first key' });
        this.logger.info({ accountId: id, mode: input.mode, keyPrefix: apiKey.prefix }, 'account created');
        return { account: accountFromRow(row), apiKey };
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new AccountNameTakenError(name);
      throw error;
    }
  }

  /** @throws AccountNotFoundError */
  async getAccount(idOrName: string): Promise<Account> {
    return accountFromRow(await findAccountRow(this.db, idOrName));
  }

  async listAccounts(): Promise<Account[]> {
    const rows = await this.db.selectFrom('accounts').selectAll().orderBy('name').execute();
    return rows.map(accountFromRow);
  }

  /** @throws AccountNotFoundError */
  async setStatus(idOrName: string, status: AccountStatus): Promise<Account> {
    return this.updateAccount(idOrName, { status });
  }

  /**
   * Changes status, job price, markup or overdraft limit (never balances: those move only through entries).
   * @throws AccountNotFoundError, InvalidAccountFieldError, InvalidAmountError
   */
  async updateAccount(idOrName: string, changes: AccountChanges): Promise<Account> {
    const found = await findAccountRow(this.db, idOrName);
    if (changes.status !== undefined && changes.status !== 'active' && changes.status !== 'suspended') {
      throw new InvalidAccountFieldError('status', `must be "active" or "suspended", got ${JSON.stringify(changes.status)}`);
    }
    if (changes.jobPrice) checkEnteredAmount('job price', changes.jobPrice);
    if (changes.markupFixedFee) checkEnteredAmount('markup fixed fee', changes.markupFixedFee);
    if (changes.overdraftLimit) checkEnteredAmount('overdraft limit', changes.overdraftLimit);
    if (changes.markupPercent) checkEnteredAmount('markup percent', changes.markupPercent, { signed: true });
    if (changes.lowBalanceAlert)
      checkEnteredAmount('low balance alert', changes.lowBalanceAlert, { unit: unitOf(found.budget_mode) });
    const mode = found.budget_mode;
    // A team may go back to its wallet's job price; an account whose calls would then have none may not.
    if (mode === 'job_based' && changes.jobPrice === null && !(found.parent_id && (await walletOf(this.db, found.id)).jobPrice)) {
      throw new InvalidAccountFieldError('job price', 'a job_based account needs a job price');
    }
    const text = (value: Decimal | null | undefined) => (value === undefined ? undefined : (value?.toString() ?? null));
    const set = {
      ...(changes.status !== undefined ? { status: changes.status } : {}),
      ...(changes.jobPrice !== undefined ? { job_price: text(changes.jobPrice) } : {}),
      ...(changes.markupPercent !== undefined ? { markup_percent: text(changes.markupPercent) } : {}),
      ...(changes.markupFixedFee !== undefined ? { markup_fixed_fee: text(changes.markupFixedFee) } : {}),
      ...(changes.overdraftLimit !== undefined ? { overdraft_limit: changes.overdraftLimit.toString() } : {}),
      ...(changes.lowBalanceAlert !== undefined ? { low_balance_alert: text(changes.lowBalanceAlert) } : {}),
    };
    // Nothing to change: the account as it is (an UPDATE with an empty SET is not SQL).
    if (Object.keys(set).length === 0) return accountFromRow(found);
    const updated = await this.db
      .updateTable('accounts')
      .set(set)
      .where('id', '=', found.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return accountFromRow(updated);
  }

  /** Adds credits. @throws AccountNotFoundError, InvalidAmountError, IdempotencyConflictError, InvalidAccountFieldError (a team account) */
  async grant(account: string, amount: Decimal, options?: AdminOperationOptions): Promise<AdminOperationResult> {
    await this.refuseTeamAccount(account);
    return applyAdminOperation(this.db, 'grant', account, amount, options);
  }

  /** A signed correction. @throws as grant, and InsufficientCreditsError when it would overdraw */
  async adjust(account: string, amount: Decimal, options?: AdminOperationOptions): Promise<AdminOperationResult> {
    await this.refuseTeamAccount(account);
    return applyAdminOperation(this.db, 'adjust', account, amount, options);
  }

  /** Gives credits back (a disputed or failed call). @throws as grant */
  async refund(account: string, amount: Decimal, options?: AdminOperationOptions): Promise<AdminOperationResult> {
    await this.refuseTeamAccount(account);
    return applyAdminOperation(this.db, 'refund', account, amount, options);
  }

  /** A team account's credits are its wallet's: operations on credits name the wallet. */
  private async refuseTeamAccount(account: string): Promise<void> {
    const row = await findAccountRow(this.db, account);
    if (!row.parent_id) return;
    const chain = await accountChain(this.db, row.id);
    const wallet = await findAccountRow(this.db, chain[chain.length - 1]!);
    throw new InvalidAccountFieldError(
      'account',
      `${row.name} is a team account and draws on the balance of ${wallet.name}: credit operations go to ${wallet.name}`,
    );
  }

  /** @see placeHold */
  hold(input: { accountId: string; requestId: string; amount: Decimal; ownerId?: string }): Promise<{ available: Decimal }> {
    return placeHold(this.db, input);
  }

  /** @see captureHold */
  capture(input: CaptureInput): Promise<CaptureOutcome> {
    return captureHold(this.db, input);
  }

  /** @see releaseHold */
  release(requestId: string, reason?: string): Promise<{ released: boolean; amount: Decimal }> {
    return releaseHold(this.db, requestId, reason);
  }

  /** Releases holds older than `maxAgeSeconds` whose request never settled; returns how many. */
  async sweepStaleHolds(maxAgeSeconds: number): Promise<number> {
    let released = 0;
    for (;;) {
      const requestIds = await staleHoldRequestIds(this.db, maxAgeSeconds, 500);
      for (const requestId of requestIds) {
        const outcome = await releaseHold(this.db, requestId, `swept: unsettled after ${maxAgeSeconds}s`);
        if (outcome.released) released += 1;
      }
      if (requestIds.length < 500) return released;
    }
  }

  /** The account's open holds: count and total. @throws AccountNotFoundError */
  async openHolds(account: string): Promise<{ count: number; total: Decimal }> {
    return openHoldTotals(this.db, (await findAccountRow(this.db, account)).id);
  }

  verify(): Promise<VerifyResult> {
    return verifyLedger(this.db);
  }

  /** The account's entries, newest first. @throws AccountNotFoundError */
  async entries(account: string, options: { limit?: number; kinds?: LedgerKind[] } = {}): Promise<LedgerEntry[]> {
    const found = await findAccountRow(this.db, account);
    let query = this.db.selectFrom('ledger_entries').selectAll().where('account_id', '=', found.id);
    if (options.kinds?.length) query = query.where('kind', 'in', options.kinds);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(options.limit ?? 20)
      .execute();
    return rows.map(entryFromRow);
  }

  /** A fresh request id for callers that have none of their own. */
  static newRequestId(): string {
    return `req_${randomUUID()}`;
  }
}
