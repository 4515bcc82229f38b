import { sql, type Kysely } from 'kysely';
import type { LimitPeriod, Schema } from '../db/schema.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { fromNumeric } from './accounts.js';
import { LedgerError } from './errors.js';
import type { LimitTargetKind } from '../db/schema.js';
import { periodBounds } from './periods.js';

/** One spend cap a call is subject to, as the call path knows it. */
export interface CapSpec {
  limitId: string;
  level: LimitTargetKind;
  /** How the refusal names the target (an account's name, a key's prefix, an end user). */
  name: string;
  cap: Decimal;
  period: LimitPeriod;
  timezone: string;
  soft: boolean;
}

/** A hard cap that the call's worst case would pass: the call is refused (`budget_exceeded`). */
export class CapExceededError extends LedgerError {
  readonly code = 'budget_exceeded';
  readonly statusCode = 402;
  override readonly type = 'insufficient_quota';
  constructor(
    readonly cap: CapSpec,
    readonly needed: Decimal,
    readonly remaining: Decimal,
    readonly resetsAt: Date | undefined,
  ) {
    super(
      `budget exceeded: the ${cap.level.replace('_', ' ')} ${cap.name} has a ${cap.period === 'total' ? 'total' : `${cap.period}ly`.replace('dayly', 'daily')} cap of ${cap.cap.toString()}; ` +
        `this call needs up to ${needed.toString()} and ${Decimal.max(Decimal.ZERO, remaining).toString()} remain` +
        (resetsAt ? `; it resets at ${resetsAt.toISOString()}` : '; it never resets (period total)'),
    );
    this.name = 'CapExceededError';
  }
}

export interface CapReservationOptions {
  /**
   * A cap lease reserves this many times the call that opened it (less when the cap has less left). 1 makes
   * every call reserve and settle its own cap reservation durably (TOLLGATE_HOLDS=per_call).
   */
  callsPerLease?: number;
  idleMs?: number;
  maxAgeMs?: number;
  tickMs?: number;
  now?: () => number;
  /** Told each cap's use after a reservation closes (alerts). */
  onUsage?(cap: CapSpec, periodStart: Date, used: Decimal): void;
  logger?: Logger;
}

interface CapLease {
  cap: CapSpec;
  periodStart: Date;
  amount: Decimal;
  drawn: Decimal;
  reserved: Decimal;
  inFlight: number;
  openedAt: number;
  lastUsedAt: number;
  retiring: boolean;
  closing: Promise<void> | undefined;
}

interface CapState {
  key: string;
  leases: CapLease[];
  opening: Promise<CapLease> | undefined;
  /** What the cap had left after this process's last lease on it (sizes the next one). */
  headroom: Decimal | undefined;
}

/** The share of a cap's headroom a lease takes when that is more than 32 calls' worth: 1/64. */
const LARGE_BLOCK_SHARE = Decimal.parse('0.015625');

/** A call's reservations on its caps, to settle or release exactly once. */
export interface CapHold {
  readonly amount: Decimal;
  readonly carves: ReadonlyArray<CapLease>;
  settled: boolean;
}

const DEFAULTS = { callsPerLease: 32, idleMs: 2_000, maxAgeMs: 10_000, tickMs: 500 };

/**
 * Spend caps as reservations, the ledger's own rule applied to every level: a call's worst case is reserved on
 * each of its caps (key, end user, every account of its team chain) by a conditional write on the cap's row for
 * the period (`used + h <= cap`, one statement: PostgreSQL re-checks the condition on the locked row, so
 * concurrent reservations, from any number of processes, can never pass the cap together), and settled with
 * the actual. As with credit leases, a reservation covers a block of calls (a cap lease) that this process
 * carves in memory, so a capped call costs no database round trip; the block's unspent part goes back when
 * the lease closes (idle, old, or its period over). With `callsPerLease: 1` each call reserves and settles its
 * own. A call belongs to the period it started in: its carve is on that period's lease, whenever it ends.
 *
 * What a lease costs: the part of a cap one process has leased is not available to another until the lease
 * closes (within `idleMs`): the cap may refuse a call somewhat before it is reached, never after. A process
 * that dies leaves its open leases counted as spent for their period (the cap errs on the side of refusing).
 */
export class CapReservations {
  private readonly states = new Map<string, CapState>();
  private readonly options: Required<Omit<CapReservationOptions, 'onUsage' | 'logger'>>;
  private readonly logger: Logger;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly settings: CapReservationOptions = {},
  ) {
    this.options = {
      callsPerLease: settings.callsPerLease ?? DEFAULTS.callsPerLease,
      idleMs: settings.idleMs ?? DEFAULTS.idleMs,
      maxAgeMs: settings.maxAgeMs ?? DEFAULTS.maxAgeMs,
      tickMs: settings.tickMs ?? DEFAULTS.tickMs,
      now: settings.now ?? Date.now,
    };
    this.logger = settings.logger ?? silentLogger();
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    this.timer.unref();
  }

  get perCall(): boolean {
    return this.options.callsPerLease <= 1;
  }

  /**
   * Reserves `amount` on every cap, all or none (a refusal gives back what was taken).
   * @throws CapExceededError naming the first hard cap that refused
   */
  async reserve(caps: readonly CapSpec[], amount: Decimal, startedAt: number): Promise<CapHold> {
    if (this.closed) throw new Error('cap reservations are closed: the gateway is shutting down');
    const carves: CapLease[] = [];
    try {
      for (const cap of caps) carves.push(await this.carve(cap, amount, startedAt));
    } catch (error) {
      await this.finish({ amount, carves, settled: false }, Decimal.ZERO);
      throw error;
    }
    return { amount, carves, settled: false };
  }

  /** The call cost `actual`: drawn on each cap. In per-call mode the reservations are written before this resolves. */
  settle(hold: CapHold, actual: Decimal): Promise<void> {
    return this.finish(hold, actual);
  }

  /** The call failed: nothing is drawn. */
  release(hold: CapHold): Promise<void> {
    return this.finish(hold, Decimal.ZERO);
  }

  /** Closes every lease with no call in flight (the others close when their calls end). */
  async returnUnused(): Promise<void> {
    const closing: Array<Promise<void>> = [];
    for (const state of this.states.values()) {
      for (const lease of state.leases) {
        lease.retiring = true;
        closing.push(this.closeIfDone(state, lease));
      }
    }
    await Promise.all(closing);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.returnUnused();
  }

  private async finish(hold: CapHold, actual: Decimal): Promise<void> {
    if (hold.settled) return;
    hold.settled = true;
    const closing: Array<Promise<void>> = [];
    for (const lease of hold.carves) {
      lease.reserved = lease.reserved.sub(hold.amount);
      lease.drawn = lease.drawn.add(actual);
      lease.inFlight -= 1;
      lease.lastUsedAt = this.options.now();
      if (this.perCall) lease.retiring = true;
      const state = this.states.get(stateKey(lease.cap, lease.periodStart));
      if (state) closing.push(this.closeIfDone(state, lease));
    }
    if (this.perCall) await Promise.all(closing);
  }

  private async carve(cap: CapSpec, amount: Decimal, startedAt: number): Promise<CapLease> {
    const { start } = periodBounds(cap.period, cap.timezone, new Date(startedAt));
    const key = stateKey(cap, start);
    let state = this.states.get(key);
    if (!state) this.states.set(key, (state = { key, leases: [], opening: undefined, headroom: undefined }));
    for (let turn = 0; turn < 1_000; turn += 1) {
      const lease = state.leases.find((candidate) => !candidate.retiring && free(candidate).gte(amount));
      if (lease) return this.take(lease, amount);
      if (state.opening) {
        const refusal = await state.opening.then(
          () => undefined,
          (error: unknown) => error,
        );
        const freed = state.leases.find((candidate) => !candidate.retiring && free(candidate).gte(amount));
        if (freed) return this.take(freed, amount);
        // A refusal for a need no larger than this call's is this call's too.
        if (refusal instanceof CapExceededError && amount.gte(refusal.needed)) {
          throw new CapExceededError(cap, amount, refusal.remaining, refusal.resetsAt);
        }
        continue;
      }
      state.opening = this.open(state, cap, start, amount);
      try {
        return this.take(await state.opening, amount);
      } finally {
        state.opening = undefined;
      }
    }
    throw new Error(`could not reserve on cap ${cap.limitId}: its leases kept filling up`);
  }

  private take(lease: CapLease, amount: Decimal): CapLease {
    lease.reserved = lease.reserved.add(amount);
    lease.inFlight += 1;
    lease.lastUsedAt = this.options.now();
    return lease;
  }

  /**
   * Reserves a block on the cap's row for the period: the conditional upsert below is the whole check. When
   * the block does not fit, the part left (if the call fits in it) is tried, then the refusal names the cap.
   */
  private async open(state: CapState, cap: CapSpec, periodStart: Date, need: Decimal): Promise<CapLease> {
    let amount = need.times(this.options.callsPerLease);
    // A cap far from its end is leased in larger blocks (1/64 of what was left at the last lease), so a busy key
    // under a large cap costs a write every lease age, not every 32 calls; near its end, blocks shrink to 32 calls.
    if (!this.perCall && state.headroom) {
      amount = Decimal.max(amount, state.headroom.mul(LARGE_BLOCK_SHARE).round(need.scale, 'down'));
    }
    for (let attempt = 0; ; attempt += 1) {
      const after = await reserveOnCap(this.db, cap, periodStart, amount);
      if (after) {
        state.headroom = cap.soft ? undefined : Decimal.max(Decimal.ZERO, cap.cap.sub(after));
        break;
      }
      // The table's cap decides, as in the write: an admin may have changed it since `cap` was read.
      const standing = await standingOnCap(this.db, cap.limitId, periodStart);
      const capNow = standing.cap ?? cap.cap;
      const left = capNow.sub(standing.used);
      if (left.lt(need) || attempt >= 3) {
        const refused = { ...cap, cap: capNow };
        throw new CapExceededError(refused, need, left, periodBounds(cap.period, cap.timezone, periodStart).resetsAt);
      }
      amount = Decimal.min(amount, left);
    }
    const now = this.options.now();
    const lease: CapLease = {
      cap,
      periodStart,
      amount,
      drawn: Decimal.ZERO,
      reserved: Decimal.ZERO,
      inFlight: 0,
      openedAt: now,
      lastUsedAt: now,
      retiring: false,
      closing: undefined,
    };
    state.leases.push(lease);
    return lease;
  }

  private closeIfDone(state: CapState, lease: CapLease): Promise<void> {
    if (lease.closing) return lease.closing;
    if (!lease.retiring || lease.inFlight > 0) return Promise.resolve();
    lease.closing = (async () => {
      const unspent = lease.amount.sub(lease.drawn);
      const used = await settleOnCap(this.db, lease.cap.limitId, lease.periodStart, unspent);
      state.leases = state.leases.filter((candidate) => candidate !== lease);
      if (state.leases.length === 0 && !state.opening) this.states.delete(state.key);
      if (used) this.settings.onUsage?.(lease.cap, lease.periodStart, used);
    })().catch((error: unknown) => {
      lease.closing = undefined;
      this.logger.warn({ err: error, limitId: lease.cap.limitId }, 'could not close a cap reservation; will retry');
    });
    return lease.closing;
  }

  private tick(): void {
    const now = this.options.now();
    for (const state of this.states.values()) {
      for (const lease of state.leases) {
        const periodOver =
          periodBounds(lease.cap.period, lease.cap.timezone, new Date(now)).start.getTime() !== lease.periodStart.getTime();
        if (periodOver || now - lease.openedAt >= this.options.maxAgeMs || now - lease.lastUsedAt >= this.options.idleMs) {
          lease.retiring = true;
        }
        void this.closeIfDone(state, lease);
      }
    }
  }
}

/**
 * `used += amount` on the cap's row for the period, only if a hard cap stays within its amount (the cap is
 * read from `limits` in the same statement, so a cap lowered meanwhile applies). Returns the period's use after
 * it, or undefined when refused.
 */
async function reserveOnCap(db: Kysely<Schema>, cap: CapSpec, periodStart: Date, amount: Decimal): Promise<Decimal | undefined> {
  const value = amount.toString();
  const row = await db
    .insertInto('limit_usage')
    .columns(['limit_id', 'period_start', 'used'])
    .expression((eb) => {
      let source = eb
        .selectFrom('limits')
        .select([
          'limits.id',
          sql<Date>`cast(${periodStart.toISOString()} as timestamptz)`.as('period_start'),
          sql<string>`cast(${value} as numeric)`.as('used'),
        ])
        .where('limits.id', '=', cap.limitId);
      if (!cap.soft)
        source = source.where(sql<boolean>`(limits.soft or limits.cap is null or cast(${value} as numeric) <= limits.cap)`);
      return source;
    })
    .onConflict((conflict) => {
      const update = conflict
        .columns(['limit_id', 'period_start'])
        .doUpdateSet({ used: sql<string>`limit_usage.used + excluded.used` });
      return cap.soft
        ? update
        : update.where(({ exists, selectFrom }) =>
            exists(
              selectFrom('limits')
                .select('limits.id')
                .whereRef('limits.id', '=', 'excluded.limit_id')
                .where(sql<boolean>`(limits.soft or limits.cap is null or limit_usage.used + excluded.used <= limits.cap)`),
            ),
          );
    })
    .returning('used')
    .executeTakeFirst();
  return row ? fromNumeric(row.used) : undefined;
}

/** Gives back the unspent part of a reservation (negative when the calls drew more); returns the period's use. */
async function settleOnCap(
  db: Kysely<Schema>,
  limitId: string,
  periodStart: Date,
  unspent: Decimal,
): Promise<Decimal | undefined> {
  if (unspent.isZero()) return usedOf(db, limitId, periodStart);
  const row = await db
    .updateTable('limit_usage')
    .set({ used: sql<string>`used - cast(${unspent.toString()} as numeric)` })
    .where('limit_id', '=', limitId)
    .where('period_start', '=', periodStart)
    .returning('used')
    .executeTakeFirst();
  return row ? fromNumeric(row.used) : undefined;
}

/** What the cap's row says is used in the period (settled spend plus open reservations). */
export async function usedOf(db: Kysely<Schema>, limitId: string, periodStart: Date): Promise<Decimal> {
  const row = await db
    .selectFrom('limit_usage')
    .select('used')
    .where('limit_id', '=', limitId)
    .where('period_start', '=', periodStart)
    .executeTakeFirst();
  return row ? fromNumeric(row.used) : Decimal.ZERO;
}

/** The period's use of a cap and the cap as stored now (null when it was cleared or its limit deleted). */
async function standingOnCap(
  db: Kysely<Schema>,
  limitId: string,
  periodStart: Date,
): Promise<{ used: Decimal; cap: Decimal | null }> {
  const row = await db
    .selectFrom('limits')
    .leftJoin('limit_usage', (join) =>
      join.onRef('limit_usage.limit_id', '=', 'limits.id').on('limit_usage.period_start', '=', periodStart),
    )
    .select(['limits.cap', 'limit_usage.used'])
    .where('limits.id', '=', limitId)
    .executeTakeFirst();
  return {
    used: row?.used ? fromNumeric(row.used) : Decimal.ZERO,
    cap: row?.cap ? fromNumeric(row.cap) : null,
  };
}

function stateKey(cap: CapSpec, periodStart: Date): string {
  return `${cap.limitId}@${periodStart.getTime()}`;
}

function free(lease: CapLease): Decimal {
  return lease.amount.sub(lease.drawn).sub(lease.reserved);
}
