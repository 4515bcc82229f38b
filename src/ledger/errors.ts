import type { Decimal } from '../money/decimal.js';

/**
 * The ledger's error catalog: one class per failure, each with a stable `code` and the HTTP status it maps
 * to, decided here once (Fastify's `createError(code, message, status)` habit) so the gateway, the admin
 * routes and the CLI never guess. Messages name the account and the amounts; they never carry a key.
 */
export abstract class LedgerError extends Error {
  abstract readonly code: string;
  abstract readonly statusCode: number;
  /** OpenAI's error `type` for the `{"error": {"message", "type", "code"}}` body. */
  readonly type: string = 'invalid_request_error';
  /** The request field at fault, as the admin API names it (OpenAI's `param`), when there is one. */
  get param(): string | undefined {
    return undefined;
  }
}

/** The admin API's name for a field the ledger names in words: `refund amount` -> `amount`, `job price` -> `job_price`. */
function fieldParam(field: string): string {
  return / amount$/.test(field) ? 'amount' : field.replaceAll(' ', '_');
}

/** Not enough available credit for a hold or a debit. The gateway answers HTTP 402. */
export class InsufficientCreditsError extends LedgerError {
  readonly code = 'insufficient_credits';
  readonly statusCode = 402;
  override readonly type = 'insufficient_quota';
  constructor(
    readonly accountId: string,
    readonly needed: Decimal,
    readonly available: Decimal,
    readonly unit: 'usd' | 'tokens',
  ) {
    super(
      `insufficient credits on account ${accountId}: this call needs ${needed.toString()} ${unit}, ` +
        `${available.toString()} ${unit} available`,
    );
    this.name = 'InsufficientCreditsError';
  }
}

export class AccountNotFoundError extends LedgerError {
  readonly code = 'account_not_found';
  readonly statusCode = 404;
  constructor(readonly account: string) {
    super(`no account with id or name ${JSON.stringify(account)}`);
    this.name = 'AccountNotFoundError';
  }
}

export class AccountSuspendedError extends LedgerError {
  readonly code = 'account_suspended';
  readonly statusCode = 403;
  override readonly type = 'permission_error';
  constructor(readonly accountId: string) {
    super(`account ${accountId} is suspended; an admin can reactivate it (status "active")`);
    this.name = 'AccountSuspendedError';
  }
}

export class AccountNameTakenError extends LedgerError {
  readonly code = 'account_name_taken';
  readonly statusCode = 409;
  constructor(readonly accountName: string) {
    super(`an account named ${JSON.stringify(accountName)} already exists; names are unique`);
    this.name = 'AccountNameTakenError';
  }
}

/** The same idempotency key was used before with a different request (Formance refuses this too). */
export class IdempotencyConflictError extends LedgerError {
  readonly code = 'idempotency_conflict';
  readonly statusCode = 409;
  constructor(readonly key: string) {
    super(`idempotency key ${JSON.stringify(key)} was already used with a different request; use a new key`);
    this.name = 'IdempotencyConflictError';
  }
}

export class InvalidAmountError extends LedgerError {
  readonly code = 'invalid_amount';
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid ${field}: ${reason}`);
    this.name = 'InvalidAmountError';
  }

  override get param(): string {
    return fieldParam(this.field);
  }
}

export class HoldNotFoundError extends LedgerError {
  readonly code = 'hold_not_found';
  readonly statusCode = 404;
  constructor(readonly requestId: string) {
    super(`no hold for request ${JSON.stringify(requestId)}; hold before capturing`);
    this.name = 'HoldNotFoundError';
  }
}

/** Rejects a negative or (for token accounts) fractional amount. @throws InvalidAmountError */
export function checkAmount(field: string, amount: Decimal, options: { unit?: 'usd' | 'tokens'; signed?: boolean } = {}): void {
  if (!options.signed && amount.isNegative())
    throw new InvalidAmountError(field, `must not be negative, got ${amount.toString()}`);
  if (options.unit === 'tokens' && !amount.isInteger()) {
    throw new InvalidAmountError(field, `token amounts are whole numbers, got ${amount.toString()}`);
  }
}

/** Digits an amount entered by an operator may have: a quadrillion, to 18 decimal places. */
export const ENTERED_AMOUNT_LIMITS = { integerDigits: 15, fractionDigits: 18 } as const;

/**
 * An amount an operator enters (a grant, a refund, a job price...) is checked as `checkAmount` does, and
 * also for its size: a 2,000-digit grant was accepted, and a balance nobody can spend or read back is a typo,
 * not a decision. (Amounts the gateway computes keep every digit their rates give them.)
 * @throws InvalidAmountError
 */
export function checkEnteredAmount(
  field: string,
  amount: Decimal,
  options: { unit?: 'usd' | 'tokens'; signed?: boolean } = {},
): void {
  checkAmount(field, amount, options);
  const digits = amount.abs().coefficient.toString().length;
  const integerDigits = Math.max(0, digits - amount.scale);
  if (integerDigits > ENTERED_AMOUNT_LIMITS.integerDigits || amount.scale > ENTERED_AMOUNT_LIMITS.fractionDigits) {
    throw new InvalidAmountError(
      field,
      `must have at most ${ENTERED_AMOUNT_LIMITS.integerDigits} digits before the decimal point and ${ENTERED_AMOUNT_LIMITS.fractionDigits} after, got ${integerDigits} and ${amount.scale}`,
    );
  }
}

/** A field of an account (name, mode, job price...) that cannot be used; names the field. */
export class InvalidAccountFieldError extends LedgerError {
  readonly code = 'invalid_account_field';
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid ${field}: ${reason}`);
    this.name = 'InvalidAccountFieldError';
  }

  override get param(): string {
    return fieldParam(this.field);
  }
}

/** A key's label, allowed models or expiry that cannot be used; names the field. */
export class InvalidKeyFieldError extends LedgerError {
  readonly code = 'invalid_key_field';
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid ${field}: ${reason}`);
    this.name = 'InvalidKeyFieldError';
  }

  override get param(): string {
    return this.field;
  }
}

/** PostgreSQL's unique_violation, as both `pg` and PGlite report it. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}
