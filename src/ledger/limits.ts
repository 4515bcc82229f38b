import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { LimitPeriod, LimitRow, LimitTargetKind, Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { findAccountRow, fromNumeric, unitOf, type LedgerUnit } from './accounts.js';
import { checkEnteredAmount, LedgerError } from './errors.js';
import { KEY_PREFIX_LENGTH } from './api-keys.js';
import { isTimeZone, periodBounds, PERIODS } from './periods.js';

/**
 * The caps and rate limits of a target: an account (any level of a team), an API key (named by its prefix),
 * or an end user of an account (`account:end-user`, the OpenAI `user` field its calls send).
 */
export interface LimitTarget {
  kind: LimitTargetKind;
  accountId: string;
  keyId: string | null;
  keyPrefix: string | null;
  endUser: string | null;
  /** The stored, unique form: `account:<id>`, `key:<id>`, `end_user:<account id>:<end user>`. */
  target: string;
}

export interface Limits {
  id: string;
  target: LimitTarget;
  cap: Decimal | null;
  period: LimitPeriod;
  timezone: string;
  soft: boolean;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

export interface LimitChanges {
  cap?: Decimal | null;
  period?: LimitPeriod;
  timezone?: string;
  soft?: boolean;
  rpm?: number | null;
  tpm?: number | null;
  concurrency?: number | null;
}

/** A cap's standing in its current period. */
export interface CapStanding {
  periodStart: Date;
  resetsAt: Date | undefined;
  /** Settled spend plus what open reservations (in-flight calls, credit leases of the cap) still hold. */
  used: Decimal;
  remaining: Decimal;
  unit: LedgerUnit;
}

export class InvalidLimitError extends LedgerError {
  readonly code = 'invalid_limit';
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid ${field}: ${reason}`);
    this.name = 'InvalidLimitError';
  }

  override get param(): string {
    return this.field;
  }
}

export class LimitTargetNotFoundError extends LedgerError {
  readonly code = 'limit_target_not_found';
  readonly statusCode = 404;
  constructor(readonly target: string) {
    super(
      `no account, key or end user ${JSON.stringify(target)}: name an account (id or name), a key (its prefix, tg_...), ` +
        `or an end user as account:end-user`,
    );
    this.name = 'LimitTargetNotFoundError';
  }
}

/**
 * Reads a target as the CLI and the admin API take it: a key prefix (`tg_` and 12 characters), `account:end-user`
 * (the first colon separates them), else an account id or name.
 * @throws LimitTargetNotFoundError
 */
export async function resolveLimitTarget(db: Kysely<Schema>, text: string): Promise<LimitTarget> {
  const trimmed = text.trim();
  if (trimmed.startsWith('tg_') && trimmed.length === KEY_PREFIX_LENGTH) {
    const key = await db
      .selectFrom('api_keys')
      .select(['id', 'prefix', 'account_id'])
      .where('prefix', '=', trimmed)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!key?.account_id) throw new LimitTargetNotFoundError(text);
    return {
      kind: 'key',
      accountId: key.account_id,
      keyId: key.id,
      keyPrefix: key.prefix,
      endUser: null,
      target: `key:${key.id}`,
    };
  }
  const colon = trimmed.indexOf(':');
  if (colon > 0) {
    const endUser = trimmed.slice(colon + 1);
    const account = await findAccountRow(db, trimmed.slice(0, colon)).catch(() => undefined);
    if (account && endUser !== '') {
      return {
        kind: 'end_user',
        accountId: account.id,
        keyId: null,
        keyPrefix: null,
        endUser,
        target: `end_user:${account.id}:${endUser}`,
      };
    }
  }
  const account = await findAccountRow(db, trimmed).catch(() => undefined);
  if (!account) throw new LimitTargetNotFoundError(text);
  return { kind: 'account', accountId: account.id, keyId: null, keyPrefix: null, endUser: null, target: `account:${account.id}` };
}

/** The limits set on the target, or undefined when none ever were. */
export async function getLimits(db: Kysely<Schema>, target: LimitTarget): Promise<Limits | undefined> {
  const row = await db.selectFrom('limits').selectAll().where('target', '=', target.target).executeTakeFirst();
  return row ? limitsFromRow(row, target) : undefined;
}

/**
 * Sets the target's limits: the fields given change, the rest stay (null clears one).
 * @throws InvalidLimitError, InvalidAmountError
 */
export async function setLimits(db: Kysely<Schema>, target: LimitTarget, changes: LimitChanges): Promise<Limits> {
  if (changes.cap) {
    const wallet = await walletOf(db, target.accountId);
    checkEnteredAmount('cap', changes.cap, { unit: wallet.unit });
  }
  if (changes.period !== undefined && !PERIODS.includes(changes.period)) {
    throw new InvalidLimitError('period', `must be one of ${PERIODS.join(', ')}, got ${JSON.stringify(changes.period)}`);
  }
  if (changes.timezone !== undefined && !isTimeZone(changes.timezone)) {
    throw new InvalidLimitError('timezone', `${JSON.stringify(changes.timezone)} is not an IANA time zone (e.g. Europe/Berlin)`);
  }
  for (const field of ['rpm', 'tpm', 'concurrency'] as const) {
    const value = changes[field];
    if (value !== undefined && value !== null && (!Number.isSafeInteger(value) || value < 1 || value > MAX_RATE_LIMIT)) {
      throw new InvalidLimitError(field, `must be a whole number from 1 to ${MAX_RATE_LIMIT}, got ${String(value)}`);
    }
  }
  const set = {
    ...(changes.cap !== undefined ? { cap: changes.cap?.toString() ?? null } : {}),
    ...(changes.period !== undefined ? { period: changes.period } : {}),
    ...(changes.timezone !== undefined ? { timezone: changes.timezone } : {}),
    ...(changes.soft !== undefined ? { soft: changes.soft } : {}),
    ...(changes.rpm !== undefined ? { rpm: changes.rpm } : {}),
    ...(changes.tpm !== undefined ? { tpm: changes.tpm } : {}),
    ...(changes.concurrency !== undefined ? { concurrency: changes.concurrency } : {}),
  };
  const row = await db
    .insertInto('limits')
    .values({
      id: `lim_${randomUUID().replaceAll('-', '')}`,
      target_kind: target.kind,
      account_id: target.accountId,
      key_id: target.keyId,
      end_user: target.endUser,
      target: target.target,
      ...set,
    })
    .onConflict((conflict) => conflict.column('target').doUpdateSet({ ...set, updated_at: new Date() }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return limitsFromRow(row, target);
}

/** The cap's use in the period containing `at`. */
export async function capStanding(db: Kysely<Schema>, limits: Limits, at: Date): Promise<CapStanding | undefined> {
  if (!limits.cap) return undefined;
  const bounds = periodBounds(limits.period, limits.timezone, at);
  const row = await db
    .selectFrom('limit_usage')
    .select('used')
    .where('limit_id', '=', limits.id)
    .where('period_start', '=', bounds.start)
    .executeTakeFirst();
  const used = row ? fromNumeric(row.used) : Decimal.ZERO;
  const wallet = await walletOf(db, limits.target.accountId);
  return {
    periodStart: bounds.start,
    resetsAt: bounds.resetsAt,
    used,
    remaining: Decimal.max(Decimal.ZERO, limits.cap.sub(used)),
    unit: wallet.unit,
  };
}

/** The chain of an account up to its wallet (the root): itself first. A cycle is refused where parents are set. */
export async function accountChain(db: Kysely<Schema>, accountId: string): Promise<string[]> {
  const chain = [accountId];
  for (;;) {
    const row = await db
      .selectFrom('accounts')
      .select('parent_id')
      .where('id', '=', chain[chain.length - 1]!)
      .executeTakeFirst();
    if (!row?.parent_id || chain.includes(row.parent_id)) return chain;
    chain.push(row.parent_id);
  }
}

/** The account whose balance the account draws on (the root of its chain): its id, unit and job price. */
export async function walletOf(
  db: Kysely<Schema>,
  accountId: string,
): Promise<{ id: string; unit: LedgerUnit; jobPrice: Decimal | null }> {
  const chain = await accountChain(db, accountId);
  const row = await db
    .selectFrom('accounts')
    .select(['id', 'budget_mode', 'job_price'])
    .where('id', '=', chain[chain.length - 1]!)
    .executeTakeFirstOrThrow();
  return { id: row.id, unit: unitOf(row.budget_mode), jobPrice: row.job_price === null ? null : fromNumeric(row.job_price) };
}

export function limitsFromRow(row: LimitRow, target: LimitTarget): Limits {
  return {
    id: row.id,
    target,
    cap: row.cap === null ? null : fromNumeric(row.cap),
    period: row.period,
    timezone: row.timezone,
    soft: row.soft,
    rpm: row.rpm,
    tpm: row.tpm,
    concurrency: row.concurrency,
  };
}

/** A target as stored, without the key's prefix (for the call path, which knows the key by id). */
export function storedTarget(row: Pick<LimitRow, 'target_kind' | 'account_id' | 'key_id' | 'end_user' | 'target'>): LimitTarget {
  return {
    kind: row.target_kind,
    accountId: row.account_id,
    keyId: row.key_id,
    keyPrefix: null,
    endUser: row.end_user,
    target: row.target,
  };
}

/** The target's limits and its cap's standing now, as the admin API and `tollgate limits show --json` give them. */
export async function limitsReport(db: Kysely<Schema>, target: LimitTarget, at: Date) {
  const limits = await getLimits(db, target);
  const standing = limits ? await capStanding(db, limits, at) : undefined;
  return {
    target: {
      kind: target.kind,
      account_id: target.accountId,
      key_prefix: target.keyPrefix,
      end_user: target.endUser,
    },
    cap: limits?.cap?.toString() ?? null,
    period: limits?.period ?? null,
    timezone: limits?.timezone ?? null,
    soft: limits?.soft ?? false,
    rpm: limits?.rpm ?? null,
    tpm: limits?.tpm ?? null,
    concurrency: limits?.concurrency ?? null,
    usage: standing
      ? {
          period_start: standing.periodStart.toISOString(),
          resets_at: standing.resetsAt?.toISOString() ?? null,
          used: standing.used.toString(),
          remaining: standing.remaining.toString(),
          unit: standing.unit,
        }
      : null,
  };
}

export type LimitsReport = Awaited<ReturnType<typeof limitsReport>>;

const nullableString = { type: ['string', 'null'] } as const;
const nullableInteger = { type: ['integer', 'null'] } as const;

export const limitsReportJsonSchema = {
  type: 'object',
  properties: {
    target: {
      type: 'object',
      properties: {
        kind: { type: 'string', enum: ['account', 'key', 'end_user'] },
        account_id: { type: 'string' },
        key_prefix: nullableString,
        end_user: nullableString,
      },
    },
    cap: { ...nullableString, description: 'the spend cap per period, in the wallet unit; null: none' },
    period: { type: ['string', 'null'], enum: ['day', 'week', 'month', 'total', null] },
    timezone: nullableString,
    soft: { type: 'boolean', description: 'a soft cap only alerts' },
    rpm: nullableInteger,
    tpm: nullableInteger,
    concurrency: nullableInteger,
    usage: {
      type: ['object', 'null'],
      description: 'the cap in its current period; null without a cap',
      properties: {
        period_start: { type: 'string', format: 'date-time' },
        resets_at: { type: ['string', 'null'], format: 'date-time', description: 'null for period total' },
        used: { type: 'string', description: 'settled spend plus what open reservations hold' },
        remaining: { type: 'string' },
        unit: { type: 'string', enum: ['usd', 'tokens'] },
      },
    },
  },
} as const;

/** The largest rate or concurrency limit: the columns are PostgreSQL integers. */
export const MAX_RATE_LIMIT = 2 ** 31 - 1;

/** The admin API's body for setting limits: absent fields stay, null clears. */
export const setLimitsBodySchema = {
  type: 'object',
  minProperties: 1,
  additionalProperties: false,
  properties: {
    cap: { type: ['string', 'null'], pattern: '^[0-9]+(\\.[0-9]+)?$', description: 'exact decimal in the wallet unit' },
    period: { type: 'string', enum: ['day', 'week', 'month', 'total'] },
    timezone: { type: 'string', maxLength: 100, description: 'IANA zone the period is calendar-aligned in (default UTC)' },
    soft: { type: 'boolean' },
    rpm: { type: ['integer', 'null'], minimum: 1, maximum: MAX_RATE_LIMIT },
    tpm: { type: ['integer', 'null'], minimum: 1, maximum: MAX_RATE_LIMIT },
    concurrency: { type: ['integer', 'null'], minimum: 1, maximum: MAX_RATE_LIMIT },
  },
} as const;

export interface SetLimitsBody {
  cap?: string | null;
  period?: LimitPeriod;
  timezone?: string;
  soft?: boolean;
  rpm?: number | null;
  tpm?: number | null;
  concurrency?: number | null;
}

export function limitChangesOf(body: SetLimitsBody): LimitChanges {
  return {
    ...(body.cap !== undefined ? { cap: body.cap === null ? null : Decimal.parse(body.cap) } : {}),
    ...(body.period !== undefined ? { period: body.period } : {}),
    ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
    ...(body.soft !== undefined ? { soft: body.soft } : {}),
    ...(body.rpm !== undefined ? { rpm: body.rpm } : {}),
    ...(body.tpm !== undefined ? { tpm: body.tpm } : {}),
    ...(body.concurrency !== undefined ? { concurrency: body.concurrency } : {}),
  };
}
