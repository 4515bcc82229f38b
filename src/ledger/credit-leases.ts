import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { DatabaseUnavailableError } from '../db/database-errors.js';
import type { Schema } from '../db/schema.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { checkAmount, InsufficientCreditsError, LedgerError } from './errors.js';
import type { CaptureJournal } from './capture-journal.js';
import type { CaptureResult } from './capture-batch.js';
import { CaptureWriter } from './capture-writer.js';
import type { GatewayInstance } from './gateway-instance.js';
import { placeHold } from './hold.js';
import type { CallCharge, CallHold, CallReservations, SettleInput } from './reservations.js';
import { releaseHold, type CaptureInput } from './settlement.js';
import { settledWithin } from '../util/settled-within.js';

export interface CreditLeaseOptions {
  /** A new lease reserves this many times the call that opened it (less when the account has less). */
  callsPerLease?: number;
  /**
   * For an account whose leases run out fast, leases grow up to this many times the call (doubling while each
   * lasts less than half of `leaseTargetMs`, halving back towards `callsPerLease` while each lasts over twice
   * it): a busy account then opens about one lease per `leaseTargetMs` instead of one per `callsPerLease`
   * calls. A grown lease takes at most a quarter of what the account has left. Default: `callsPerLease`
   * (fixed size).
   */
  maxCallsPerLease?: number;
  /** How long a lease of a busy account is sized to last (see `maxCallsPerLease`). */
  leaseTargetMs?: number;
  /** After this age a lease takes no new calls; it closes once the calls it carries have settled. */
  maxAgeMs?: number;
  /** A lease with no call for this long closes, giving its unspent part back to the account. */
  idleMs?: number;
  /** How often leases are checked for closing. */
  tickMs?: number;
  /**
   * How long a settled call's capture waits for others to share its transaction (default 100 ms, as long as a
   * usage record waits): nobody waits for an in-lease capture (the journal has it), and at sequential calls a
   * 20 ms linger made five times the transactions, each six statements, for a fifth of the captures.
   */
  writeLingerMs?: number;
  /** At close, how long captures that cannot be written (database unreachable) are retried before they are left to the journal. */
  closeTimeoutMs?: number;
  /** Where each capture is written before its call is answered; without one, a killed process loses the captures not yet in the database. */
  journal?: CaptureJournal;
  /** The process that owns the leases: their holds name it, and its fence stops spending them. */
  instance?: GatewayInstance;
  logger?: Logger;
  /** Writes a batch of captures (given as journal lines) elsewhere than in this thread: see CaptureWriterOptions.write. */
  writeCaptures?: (records: string[]) => Promise<CaptureResult[]>;
  /**
   * Whether the database is reachable (`DatabaseHealth.isReachable`). With the journal failing too, calls are
   * then refused before they are made (`DatabaseUnavailableError`): see `CaptureWriter.cannotKeep`.
   */
  databaseReachable?: () => boolean;
}

interface Lease {
  id: string;
  accountId: string;
  amount: Decimal;
  /** What the settled calls drew, in the order their captures are written (the database draws the same). */
  drawn: Decimal;
  /** What the calls in flight reserved. */
  reserved: Decimal;
  inFlight: Set<string>;
  openedAt: number;
  lastUsedAt: number;
  retiring: boolean;
  writes: Set<Promise<void>>;
  closing: Promise<void> | undefined;
}

interface AccountLeases {
  accountId: string;
  leases: Lease[];
  /** The account's available in the database, as last read; leases are already taken out of it. */
  available: Decimal;
  /** The lease being opened, which the calls arriving meanwhile wait for instead of opening their own. */
  opening: Promise<void> | undefined;
  /** Database operations that change available (open, close, a capture past a lease) run one after another,
   * so their results arrive in the order they committed. */
  serial: Promise<unknown>;
  /** How many times the opening call's need the next lease reserves (grows for a busy account). */
  callsPerLease: number;
  /** When the last lease was opened (Date.now()), to size the next from how long that one lasted. */
  lastOpenedAt: number | undefined;
}

const DEFAULTS = {
  callsPerLease: 32,
  maxAgeMs: 10_000,
  idleMs: 2_000,
  tickMs: 500,
  writeLingerMs: 100,
  closeTimeoutMs: 10_000,
  leaseTargetMs: 1_000,
};
/** The most of an account's available credits a lease grown past `callsPerLease` takes. */
const GROWN_LEASE_SHARE = Decimal.parse('0.25');
/** Bound on the open-or-wait loop of one hold (each turn either carves, waits for a lease or opens one). */
const MAX_HOLD_TURNS = 1_000;

/**
 * Credit leases: the gateway's hold and capture without a database round trip before or after the upstream
 * call, and with the same guarantees. Like an online charging system granting quota, the gateway reserves a
 * block of an account's credits once, with the ledger's own conditional hold (a hold entry `lease_…`, so it
 * can never take more than is available), then carves each call's worst-case reservation out of that block
 * in memory. A settled call's capture is written afterwards, in the background and group-committed, naming its
 * lease: its charge is exact and final when the response leaves (priced from the provider's usage), and the
 * balance shows it once the write commits, a few milliseconds later. The lease closes when it is idle or old
 * and its captures are written, giving back what its calls did not draw.
 *
 * What holds: no call is served without a reservation inside a durable hold, so an account is never
 * overdrawn, by one process or many; each capture is written once (unique request id, retried writes replay);
 * a call that fails releases its carve in memory and is never charged. What differs from a per-call durable
 * hold: a process that dies loses the captures it had not yet written (as a per-call hold loses the capture of
 * a call that finished upstream as the process died); the sweeper then releases the lease like any stale hold.
 * Credits one process has leased are not available to another until the lease closes (within `idleMs` of
 * the last call, `maxAgeMs` at most). An account suspended meanwhile stops at its next lease; the gateway
 * retires every instance's leases when an admin changes an account (NOTIFY), so that is its next call.
 */
export class CreditLeases implements CallReservations {
  private readonly accounts = new Map<string, AccountLeases>();
  private readonly holds = new Map<string, { hold: CallHold; lease: Lease }>();
  private readonly options: Required<
    Omit<CreditLeaseOptions, 'logger' | 'journal' | 'instance' | 'writeCaptures' | 'databaseReachable'>
  >;
  private readonly logger: Logger;
  private readonly timer: NodeJS.Timeout;
  private readonly writer: CaptureWriter;
  private readonly instance: GatewayInstance | undefined;
  private closed = false;

  constructor(
    private readonly db: Kysely<Schema>,
    options: CreditLeaseOptions = {},
  ) {
    const { logger, journal, instance, writeCaptures, databaseReachable, ...rest } = options;
    const callsPerLease = rest.callsPerLease ?? DEFAULTS.callsPerLease;
    this.options = {
      ...DEFAULTS,
      ...rest,
      callsPerLease,
      maxCallsPerLease: Math.max(callsPerLease, rest.maxCallsPerLease ?? callsPerLease),
    };
    this.logger = logger ?? silentLogger();
    this.instance = instance;
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    this.timer.unref();
    // Nobody waits for an in-lease capture, so it lingers for company: fewer, larger transactions, and less
    // work between one call and the next. One batch at a time, in settlement order, as the leases' draws assume.
    this.writer = new CaptureWriter(db, {
      lingerMs: this.options.writeLingerMs,
      logger: this.logger,
      ...(journal ? { journal } : {}),
      ...(writeCaptures ? { write: writeCaptures } : {}),
      ...(databaseReachable ? { databaseReachable } : {}),
    });
    // Declared dead after a silence: the database released every lease of this process, so none may be spent.
    instance?.onDeclaredDead(() => void this.retireAccount());
  }

  /**
   * Reserves `amount` for the call `requestId`: at once from a lease with room, else from a new lease.
   * @throws InsufficientCreditsError (what the account has, this process's leases included, is short),
   *   AccountSuspendedError, AccountNotFoundError, InvalidAmountError, DatabaseUnavailableError (the call's
   *   capture could be kept nowhere: the journal cannot be written and the database is unreachable)
   */
  async hold(input: { accountId: string; requestId: string; amount: Decimal }): Promise<CallHold> {
    checkAmount('hold amount', input.amount);
    if (this.closed) throw new Error('credit leases are closed: the gateway is shutting down');
    const unkept = this.writer.cannotKeep();
    if (unkept) throw new DatabaseUnavailableError(unkept);
    if (this.holds.has(input.requestId)) throw new Error(`request ${input.requestId} already holds credits`);
    const state = this.stateOf(input.accountId);
    // A fenced process may have been declared dead meanwhile: its leases may be released; it opens new ones.
    if (this.instance?.fenced) this.retireLeases(state);
    for (let turn = 0; turn < MAX_HOLD_TURNS; turn += 1) {
      const lease = state.leases.find((candidate) => !candidate.retiring && free(candidate).gte(input.amount));
      if (lease) return this.carve(lease, input);
      if (state.opening) {
        const refusal = await state.opening.then(
          () => undefined,
          (error: unknown) => error,
        );
        // A refusal for a need no larger than this call's is this call's too, unless a call released its
        // carve meanwhile (the opener already gave back the idle leases); a smaller call looks again.
        const freed = state.leases.find((candidate) => !candidate.retiring && free(candidate).gte(input.amount));
        if (freed) return this.carve(freed, input);
        if (refusal instanceof InsufficientCreditsError && input.amount.gte(refusal.needed)) {
          throw new InsufficientCreditsError(input.accountId, input.amount, refusal.available, refusal.unit);
        }
        continue;
      }
      let opened: Lease | undefined;
      // A refusal names this call's need, not the lease block asked for on its behalf (32 calls' worth): the
      // calls waiting on this opening compare their own need with it, and one as large is refused at once.
      state.opening = this.acquire(state, input.amount).then(
        (lease) => {
          opened = lease;
        },
        (error: unknown) => {
          throw error instanceof InsufficientCreditsError
            ? new InsufficientCreditsError(input.accountId, input.amount, error.available, error.unit)
            : error;
        },
      );
      try {
        await state.opening;
      } finally {
        state.opening = undefined;
      }
      this.retireSpent(state, opened!, input.amount);
      // The opener carves first, before the calls that waited for this lease look at it.
      return this.carve(opened!, input);
    }
    throw new Error(`could not reserve credits for request ${input.requestId}: the account's leases kept filling up`);
  }

  /**
   * Charges the call `amount` (the priced usage) against its lease. Within what the lease can pay, this
   * decides in memory and the capture is written in the background; past it, the database decides the
   * excess under the account's overdraft policy and this waits for it.
   * @throws Error when the hold is unknown or already settled; past the lease, the capture's own error
   */
  async settle(hold: CallHold, input: SettleInput): Promise<CallCharge> {
    checkAmount('capture amount', input.amount);
    const lease = this.finish(hold);
    const state = this.stateOf(hold.accountId);
    const room = free(lease);
    const capture: CaptureInput = { ...input, requestId: hold.requestId, leaseId: lease.id };
    if (input.amount.lte(room)) {
      lease.drawn = lease.drawn.add(input.amount);
      const { written, durable } = this.writer.submit(capture);
      this.track(lease, written);
      await durable;
      return { captured: input.amount, shortfall: Decimal.ZERO, creditsLeft: this.creditsLeft(state) };
    }
    // The database will draw the rest of the lease (its view does not include the other calls' carves, which
    // then settle past the lease too) and take the excess from available.
    lease.drawn = Decimal.max(lease.drawn, Decimal.min(lease.amount, lease.drawn.add(input.amount)));
    let durable: Promise<void> = Promise.resolve();
    const written = this.serially(state, () => {
      // The call waits for the ledger's outcome and reports its shortfall, if any: no discrepancy.
      const submitted = this.writer.submit(capture, { urgent: true, reported: true });
      durable = submitted.durable;
      return submitted.written;
    });
    this.track(lease, written);
    const outcome = await written;
    await durable;
    state.available = outcome.available;
    return { captured: outcome.captured, shortfall: outcome.shortfall, creditsLeft: this.creditsLeft(state) };
  }

  /** The call failed: its carve goes back to the lease, nothing is charged. Unknown or settled holds are ignored. */
  async release(hold: CallHold): Promise<void> {
    if (!this.holds.has(hold.requestId)) return;
    void this.closeIfDone(this.finish(hold));
  }

  /**
   * For metrics: leases open in this process, captures settled but not yet written, captures given up on,
   * and captures the ledger settled for less than their call reported.
   */
  stats(): { openLeases: number; writesPending: number; writesLost: number; discrepancies: number } {
    let openLeases = 0;
    let writesPending = 0;
    for (const state of this.accounts.values()) {
      openLeases += state.leases.length;
      for (const lease of state.leases) writesPending += lease.writes.size;
    }
    const { lost, discrepancies } = this.writer.stats;
    return { openLeases, writesPending, writesLost: lost, discrepancies };
  }

  /** Resolves when every capture settled so far is written (or, past the retry time, logged as lost). */
  async flush(): Promise<void> {
    await this.writer.idle();
    for (;;) {
      const pending = [...this.accounts.values()].flatMap((state) => state.leases.flatMap((lease) => [...lease.writes]));
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** Writes every settled capture, then closes every lease with no call in flight (the rest close as they finish). */
  async returnUnused(): Promise<void> {
    await this.flush();
    await this.retireAccount();
  }

  /** Retires the account's leases (all accounts' without an id): its next calls reserve from a new lease,
   * under its current status and balance. */
  async retireAccount(accountId?: string): Promise<void> {
    const states = accountId === undefined ? [...this.accounts.values()] : [this.accounts.get(accountId)];
    await Promise.all(states.flatMap((state) => (state ? this.retireLeases(state) : [])));
  }

  /**
   * A new lease opened because no lease had room for a call of `need`: the others without that room are spent
   * as far as such calls go, and the new one serves smaller calls too. Retired, each closes once its calls
   * settle and gives back what is left, instead of staying open (its remainder reserved, and scanned by every
   * call) until it ages out: under steady load that was hundreds of spent leases per account.
   */
  private retireSpent(state: AccountLeases, opened: Lease, need: Decimal): void {
    for (const lease of state.leases) {
      if (lease === opened || lease.retiring || free(lease).gte(need)) continue;
      lease.retiring = true;
      void this.closeIfDone(lease);
    }
  }

  /**
   * A lease that ran out in less than half the target time makes the next one twice as large (up to
   * `maxCallsPerLease`); one that lasted over twice the target, half as large (down to `callsPerLease`).
   */
  private resize(state: AccountLeases): void {
    if (state.lastOpenedAt === undefined) return;
    const lasted = Date.now() - state.lastOpenedAt;
    const { callsPerLease, maxCallsPerLease, leaseTargetMs } = this.options;
    if (lasted < leaseTargetMs / 2) state.callsPerLease = Math.min(maxCallsPerLease, state.callsPerLease * 2);
    else if (lasted > leaseTargetMs * 2) state.callsPerLease = Math.max(callsPerLease, Math.floor(state.callsPerLease / 2));
  }

  private retireLeases(state: AccountLeases): Array<Promise<void>> {
    return state.leases.map((lease) => {
      lease.retiring = true;
      return this.closeIfDone(lease);
    });
  }

  /**
   * Stops taking calls, writes what is settled and closes the idle leases. Calls still in flight settle as
   * usual. With the database unreachable this waits `closeTimeoutMs` at most: what is still unwritten then
   * stays in the journal, and the next start writes it.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    if (!(await settledWithin(this.returnUnused(), this.options.closeTimeoutMs))) {
      this.writer.stopRetrying();
      this.logger.warn('closing with captures not yet written (database unreachable); the journal keeps them for the next start');
    }
  }

  private stateOf(accountId: string): AccountLeases {
    let state = this.accounts.get(accountId);
    if (!state) {
      state = {
        accountId,
        leases: [],
        available: Decimal.ZERO,
        opening: undefined,
        serial: Promise.resolve(),
        callsPerLease: this.options.callsPerLease,
        lastOpenedAt: undefined,
      };
      this.accounts.set(accountId, state);
    }
    return state;
  }

  private carve(lease: Lease, input: { accountId: string; requestId: string; amount: Decimal }): CallHold {
    const hold: CallHold = { requestId: input.requestId, accountId: input.accountId, amount: input.amount };
    lease.reserved = lease.reserved.add(input.amount);
    lease.inFlight.add(input.requestId);
    lease.lastUsedAt = Date.now();
    this.holds.set(input.requestId, { hold, lease });
    return hold;
  }

  private finish(hold: CallHold): Lease {
    const entry = this.holds.get(hold.requestId);
    if (!entry) throw new Error(`request ${hold.requestId} holds no credits here, or was already settled`);
    this.holds.delete(hold.requestId);
    const { lease } = entry;
    lease.reserved = lease.reserved.sub(entry.hold.amount);
    lease.inFlight.delete(hold.requestId);
    lease.lastUsedAt = Date.now();
    return lease;
  }

  /** Opens a lease of the account's current lease size times `need` (or what the account has, if less, but at least `need`). */
  private open(state: AccountLeases, need: Decimal): Promise<Lease> {
    return this.serially(state, async () => {
      this.resize(state);
      const base = need.times(this.options.callsPerLease);
      let block = need.times(state.callsPerLease);
      // A grown lease takes at most a quarter of what the account has left (as this process last saw it), so
      // one busy process does not hold the whole balance of an account that other processes serve too.
      if (block.gt(base)) block = Decimal.max(base, Decimal.min(block, state.available.mul(GROWN_LEASE_SHARE)));
      let amount = state.available.gte(need) && state.available.lt(block) ? state.available : block;
      for (let attempt = 0; ; attempt += 1) {
        const id = `lease_${randomUUID().replaceAll('-', '')}`;
        try {
          const held = await placeHold(this.db, {
            accountId: state.accountId,
            requestId: id,
            amount,
            ...(this.instance ? { ownerId: this.instance.id } : {}),
          });
          state.available = held.available;
          const now = Date.now();
          state.lastOpenedAt = now;
          const lease: Lease = {
            id,
            accountId: state.accountId,
            amount,
            drawn: Decimal.ZERO,
            reserved: Decimal.ZERO,
            inFlight: new Set(),
            openedAt: now,
            lastUsedAt: now,
            retiring: false,
            writes: new Set(),
            closing: undefined,
          };
          state.leases.push(lease);
          return lease;
        } catch (error) {
          if (!(error instanceof InsufficientCreditsError) || attempt >= 2) throw error;
          state.available = error.available;
          if (error.available.lt(need)) throw error;
          amount = error.available;
        }
      }
    });
  }

  /**
   * Opens a lease for `need`; when the account is short even of that, this process's own idle leases are
   * closed first (their unspent part is the account's too), once their captures are written, since a lease
   * released before its captures would give back what they drew, and the lease is tried once more.
   */
  private async acquire(state: AccountLeases, need: Decimal): Promise<Lease> {
    try {
      return await this.open(state, need);
    } catch (error) {
      if (!(error instanceof InsufficientCreditsError)) throw error;
      const idle = state.leases.filter((lease) => lease.inFlight.size === 0);
      if (idle.length === 0) throw error;
      for (const lease of idle) lease.retiring = true;
      await this.writer.idle();
      await Promise.all(
        idle.map(async (lease) => {
          while (lease.writes.size > 0) await Promise.all([...lease.writes]);
          await this.closeIfDone(lease);
        }),
      );
      return this.open(state, need);
    }
  }

  private track(lease: Lease, write: Promise<unknown>): void {
    const tracked = write.then(
      () => undefined,
      () => undefined,
    );
    lease.writes.add(tracked);
    void tracked.then(() => {
      lease.writes.delete(tracked);
      void this.closeIfDone(lease);
    });
  }

  /** Closes a retiring lease once no call is in flight and its captures are written (each lease once). */
  private closeIfDone(lease: Lease): Promise<void> {
    if (lease.closing) return lease.closing;
    if (!lease.retiring || lease.inFlight.size > 0 || lease.writes.size > 0) return Promise.resolve();
    const state = this.stateOf(lease.accountId);
    lease.closing ??= this.serially(state, () => this.closeLease(state, lease)).catch((error: unknown) => {
      // Left open: the next tick tries again, and the sweeper releases it if this process is gone.
      lease.closing = undefined;
      this.logger.warn({ err: error, leaseId: lease.id }, 'could not close a credit lease; will retry');
    });
    return lease.closing;
  }

  private async closeLease(state: AccountLeases, lease: Lease): Promise<void> {
    const released = await releaseHold(this.db, lease.id, 'credit lease closed');
    state.available = state.available.add(released.amount);
    state.leases = state.leases.filter((candidate) => candidate !== lease);
    if (state.leases.length === 0 && !state.opening) this.accounts.delete(state.accountId);
  }

  private serially<T>(state: AccountLeases, operation: () => Promise<T>): Promise<T> {
    const run = state.serial.then(operation, operation);
    state.serial = run.catch(() => undefined);
    return run;
  }

  private creditsLeft(state: AccountLeases): Decimal {
    return state.leases.reduce((total, lease) => total.add(Decimal.max(Decimal.ZERO, free(lease))), state.available);
  }

  /** Retires old and idle leases and closes those that are done. */
  private tick(): void {
    const now = Date.now();
    const fenced = this.instance?.fenced ?? false;
    for (const state of this.accounts.values()) {
      for (const lease of state.leases) {
        if (fenced || now - lease.openedAt >= this.options.maxAgeMs || now - lease.lastUsedAt >= this.options.idleMs)
          lease.retiring = true;
        void this.closeIfDone(lease);
      }
    }
  }
}

/** What a lease can still give without touching the reservations of the calls it carries. */
function free(lease: Lease): Decimal {
  return lease.amount.sub(lease.drawn).sub(lease.reserved);
}
