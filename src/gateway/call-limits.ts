import type { Kysely } from 'kysely';
import type { LimitRow, Schema } from '../db/schema.js';
import { CapExceededError, type CapHold, type CapReservations, type CapSpec } from '../ledger/cap-reservations.js';
import { fromNumeric } from '../ledger/accounts.js';
import type { Decimal } from '../money/decimal.js';
import type { NormalizedUsage } from '../pricing/types.js';
import { otherModelTokens } from '../pricing/usage.js';
import { ExpiringCache } from '../util/expiring-cache.js';
import { GatewayError } from './errors.js';
import { RateLimitExceededError, type RateLimiter, type RateSubject, type RateTicket } from './rate-limits.js';

/** Who a call's limits are looked up for: the key and the account chain up to its wallet (the end user apart). */
export interface LimitedCaller {
  keyId: string;
  /** The caller's account first, its parents after, the wallet (the root) last. */
  chain: readonly string[];
}

/** A call admitted under its limits: to settle (actual spend and tokens) or release exactly once. */
export interface Admission {
  readonly caps: CapHold | undefined;
  readonly rate: RateTicket | undefined;
  /** The `x-ratelimit-*` headers of the call's answer (none when no rate limit applies). */
  readonly headers: Record<string, string>;
}

interface TargetLimits {
  caps: CapSpec[];
  rates: RateSubject[];
}

/** How long a target's limits are cached in this process; a change made through any instance clears it (NOTIFY). */
const LIMITS_CACHE_MS = 5_000;

/**
 * The limits of the call path, in the order a call meets them: the key's allowed models, its rate limits and
 * its team's (requests, tokens, concurrency), then the spend caps of the key, the end user and every account of
 * the chain, all reserved with the call's worst case (`CapReservations`) before its credits are held. Limits are
 * read once per target and cached for a few seconds, so the call path makes no database round trip of its own.
 */
export class CallLimits {
  private readonly cache = new ExpiringCache<TargetLimits | null>(50_000);
  /** Whether an account has any end-user limits, per account. */
  private readonly endUserAccounts = new ExpiringCache<boolean>(10_000);

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly caps: CapReservations,
    private readonly rates: RateLimiter,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * @throws GatewayError model_not_allowed (403) when the key's allow-list has neither the name asked for nor
   *   the catalog model it resolved to
   */
  checkModel(
    /** The models the key may call (names or `*` patterns); undefined, null or empty: every model. */
    allowed: readonly string[] | null | undefined,
    requested: string,
    modelId: string | undefined,
  ): void {
    if (!allowed || allowed.length === 0) return;
    if (allowed.some((pattern) => matches(pattern, requested) || (modelId !== undefined && matches(pattern, modelId)))) return;
    throw new GatewayError(
      'model_not_allowed',
      `model ${JSON.stringify(requested)} is not allowed for this key; it may call ${allowed.map((name) => JSON.stringify(name)).join(', ')}`,
      'model',
      undefined,
      { details: { level: 'key' } },
    );
  }

  /**
   * Takes the call's place in its rate windows, then reserves its worst case on every cap.
   * @throws GatewayError rate_limit_exceeded (429, with headers), budget_exceeded (402, the cap's level and reset)
   */
  async admit(caller: LimitedCaller, endUser: string | undefined, call: { debit: Decimal; tokens: number }): Promise<Admission> {
    const limits = await this.limitsOf(caller, endUser);
    // The call's start decides its rate window and its caps' period, whenever it ends.
    const startedAt = this.now();
    if (limits.caps.length === 0 && limits.rates.length === 0) return { caps: undefined, rate: undefined, headers: {} };
    let rate: RateTicket | undefined;
    if (limits.rates.length > 0) {
      try {
        rate = await this.rates.acquire(limits.rates, call.tokens, startedAt);
      } catch (error) {
        if (error instanceof RateLimitExceededError) throw rateRefusal(error);
        throw error;
      }
    }
    let caps: CapHold | undefined;
    if (limits.caps.length > 0) {
      try {
        caps = await this.caps.reserve(limits.caps, call.debit, startedAt);
      } catch (error) {
        if (rate) await this.rates.settle(rate, 0).catch(() => undefined);
        if (error instanceof CapExceededError) throw budgetRefusal(error, this.now());
        throw error;
      }
    }
    return { caps, rate, headers: rate?.headers ?? {} };
  }

  /** The call settled for `debit` (what the ledger captured) and used `usage`. */
  async settle(admission: Admission, debit: Decimal, usage: NormalizedUsage): Promise<void> {
    await Promise.all([
      admission.caps ? this.caps.settle(admission.caps, debit) : undefined,
      admission.rate ? this.rates.settle(admission.rate, totalTokens(usage)) : undefined,
    ]);
  }

  /** The call failed: nothing is drawn on its caps; its tokens are not counted. */
  async release(admission: Admission): Promise<void> {
    await Promise.all([
      admission.caps ? this.caps.release(admission.caps) : undefined,
      admission.rate ? this.rates.settle(admission.rate, 0) : undefined,
    ]);
  }

  /** Gives back the unspent part of this process's cap leases (those with no call in flight). */
  returnUnused(): Promise<void> {
    return this.caps.returnUnused();
  }

  /** Forgets cached limits (after an admin changed some, here or on another instance). */
  invalidate(): void {
    this.cache.clear();
    this.endUserAccounts.clear();
  }

  async close(): Promise<void> {
    await this.caps.close();
    await this.rates.close();
  }

  private async limitsOf(caller: LimitedCaller, endUser: string | undefined): Promise<TargetLimits> {
    const now = this.now();
    // End users are many and mostly unlimited: one is looked up only when its account has end-user limits at all.
    const perUser = endUser !== undefined && (await this.hasEndUserLimits(caller.chain[0]!, now));
    const targets = [
      `key:${caller.keyId}`,
      ...(perUser ? [`end_user:${caller.chain[0]}:${endUser}`] : []),
      ...caller.chain.map((accountId) => `account:${accountId}`),
    ];
    const found = new Map<string, TargetLimits | null>();
    const missing: string[] = [];
    for (const target of targets) {
      const cached = this.cache.get(target, now);
      if (cached) found.set(target, cached.value);
      else missing.push(target);
    }
    if (missing.length > 0) {
      const rows = await this.db
        .selectFrom('limits')
        .leftJoin('accounts', 'accounts.id', 'limits.account_id')
        .leftJoin('api_keys', 'api_keys.id', 'limits.key_id')
        .selectAll('limits')
        .select(['accounts.name as account_name', 'api_keys.prefix as key_prefix'])
        .where('limits.target', 'in', missing)
        .execute();
      const byTarget = new Map(rows.map((row) => [row.target, row]));
      for (const target of missing) {
        const row = byTarget.get(target);
        const value = row ? targetLimits(row, row.account_name, row.key_prefix) : null;
        this.cache.set(target, value, now + LIMITS_CACHE_MS);
        found.set(target, value);
      }
    }
    const result: TargetLimits = { caps: [], rates: [] };
    for (const target of targets) {
      const limits = found.get(target);
      if (!limits) continue;
      result.caps.push(...limits.caps);
      result.rates.push(...limits.rates);
    }
    return result;
  }

  private async hasEndUserLimits(accountId: string, now: number): Promise<boolean> {
    const key = `end_users_of:${accountId}`;
    const cached = this.endUserAccounts.get(key, now);
    if (cached) return cached.value;
    const row = await this.db
      .selectFrom('limits')
      .select('id')
      .where('account_id', '=', accountId)
      .where('target_kind', '=', 'end_user')
      .limit(1)
      .executeTakeFirst();
    this.endUserAccounts.set(key, row !== undefined, now + LIMITS_CACHE_MS);
    return row !== undefined;
  }
}

function targetLimits(row: LimitRow, accountName: string | null, keyPrefix: string | null): TargetLimits {
  const name =
    row.target_kind === 'key'
      ? (keyPrefix ?? row.key_id ?? row.id)
      : row.target_kind === 'end_user'
        ? `${JSON.stringify(row.end_user)} of account ${accountName ?? row.account_id}`
        : (accountName ?? row.account_id);
  const caps: CapSpec[] =
    row.cap === null
      ? []
      : [
          {
            limitId: row.id,
            level: row.target_kind,
            name,
            cap: fromNumeric(row.cap),
            period: row.period,
            timezone: row.timezone,
            soft: row.soft,
          },
        ];
  const rates: RateSubject[] =
    row.rpm === null && row.tpm === null && row.concurrency === null
      ? []
      : [{ limitId: row.id, level: row.target_kind, name, rpm: row.rpm, tpm: row.tpm, concurrency: row.concurrency }];
  return { caps, rates };
}

/** A model name or a pattern where `*` stands for any run of characters (`gpt-4o*`, `openai/*`). */
export function matches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const expression = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return expression.test(name);
}

/** Every token of the usage, in and out, other models' steps within the call included: what a tokens-per-minute limit counts. */
export function totalTokens(usage: NormalizedUsage): number {
  const { input, output } = usage;
  return (
    otherModelTokens(usage) +
    input.uncached +
    input.cacheRead +
    input.cacheWrite +
    input.cacheWrite1h +
    input.audio +
    output.text +
    output.reasoning +
    output.audio
  );
}

function rateRefusal(error: RateLimitExceededError): GatewayError {
  return new GatewayError('rate_limit_exceeded', error.message, undefined, undefined, {
    retryAfterSeconds: Math.max(1, Math.ceil(error.retryAfterMs / 1000)),
    headers: error.headers,
    details: { level: error.subject.level, limit: error.kind, resets_in_ms: error.retryAfterMs },
  });
}

/** 402 `budget_exceeded`: the cap's level, period and amount, and when it resets (also as Retry-After). */
function budgetRefusal(error: CapExceededError, now: number): GatewayError {
  return new GatewayError('budget_exceeded', error.message, undefined, undefined, {
    ...(error.resetsAt ? { retryAfterSeconds: Math.max(1, Math.ceil((error.resetsAt.getTime() - now) / 1000)) } : {}),
    details: {
      level: error.cap.level,
      period: error.cap.period,
      cap: error.cap.cap.toString(),
      resets_at: error.resetsAt?.toISOString() ?? null,
    },
  });
}
