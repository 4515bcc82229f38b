import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/database.js';
import type { BudgetMode } from '../src/db/schema.js';
import { CreditLeases } from '../src/ledger/credit-leases.js';
import { InsufficientCreditsError } from '../src/ledger/errors.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';
import { postgresBackend, type TestDatabase } from './support/backends.js';
import type { RaceOrder, RaceReport } from './support/ledger-race-worker.js';
import { forkRaceWorkers, stopRaceWorkers, workerReply } from './support/race-workers.js';

/**
 * Holds racing for one account from separate connection pools and separate processes, as gateway instances
 * do. test/ledger-concurrency.test.ts sends its holds through one Ledger on one handle, whose group commit
 * decides them one transaction at a time; here each pool has its own, so the holds meet only in PostgreSQL:
 * the conditional update (`available >= amount`) is the only thing that can stop an overdraft.
 */
const backend = postgresBackend();
const reason = backend ? '' : ' (skipped: set TEST_DATABASE_URL to a PostgreSQL server to run it)';

const POOLS = 6;
const PROCESSES = 4;
/** Each case's account pays for exactly ALLOWED operations of `amount`; four times as many are attempted. */
const ALLOWED = 60;
const ATTEMPTS = 240;

const MODES: Array<{ mode: BudgetMode; amount: string; jobPrice?: string }> = [
  { mode: 'consumption_usd', amount: '0.0123' },
  { mode: 'consumption_tokens', amount: '1037' },
  { mode: 'job_based', amount: '0.25', jobPrice: '0.25' },
];

describe.skipIf(!backend)(`holds raced across pools and processes on postgres${reason}`, () => {
  let database: TestDatabase;
  let ledger: Ledger;
  const pools: Database[] = [];
  let counter = 0;

  beforeAll(async () => {
    database = await backend!.open();
    ledger = new Ledger(database.db);
    for (let index = 0; index < POOLS; index += 1) pools.push(await openDatabase({ kind: 'postgres', url: database.url! }));
  });
  afterAll(async () => {
    for (const pool of pools) await pool.close();
    await database?.close();
  });

  async function accountFor(mode: BudgetMode, amount: string, jobPrice?: string) {
    counter += 1;
    const { account } = await ledger.createAccount({
      name: `race-${mode}-${counter}`,
      mode,
      credits: Decimal.parse(amount).times(ALLOWED),
      ...(jobPrice ? { jobPrice: Decimal.parse(jobPrice) } : {}),
    });
    return account;
  }

  /** Runs `race` while sampling the account from another connection: neither balance nor available ever goes below zero. */
  async function watched<T>(accountId: string, race: () => Promise<T>): Promise<T> {
    let racing = true;
    let samples = 0;
    const sampler = (async () => {
      while (racing) {
        const row = await database.db
          .selectFrom('accounts')
          .select(['available', 'balance'])
          .where('id', '=', accountId)
          .executeTakeFirstOrThrow();
        expect(Decimal.parse(row.available).isNegative(), `available ${row.available}`).toBe(false);
        expect(Decimal.parse(row.balance).isNegative(), `balance ${row.balance}`).toBe(false);
        samples += 1;
      }
    })();
    try {
      return await race();
    } finally {
      racing = false;
      await sampler;
      expect(samples).toBeGreaterThan(0);
    }
  }

  /** Splits the outcomes: how many succeeded; every failure must be a refusal for credits. */
  function tally(outcomes: Array<PromiseSettledResult<unknown>>): number {
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(InsufficientCreditsError);
    }
    return outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
  }

  async function expectEnd(accountId: string, expected: { balance: Decimal; openHolds: number }) {
    const after = await ledger.getAccount(accountId);
    expect(after.balance.toString()).toBe(expected.balance.toString());
    expect((await ledger.openHolds(accountId)).count).toBe(expected.openHolds);
    if (expected.openHolds === 0) expect(after.available.toString()).toBe(after.balance.toString());
    expect((await ledger.verify()).ok).toBe(true);
  }

  describe.each(MODES)('$mode', ({ mode, amount, jobPrice }) => {
    const each = Decimal.parse(amount);

    it(`durable holds from ${POOLS} pools: exactly ${ALLOWED} of ${ATTEMPTS} succeed, and the account is held to zero`, async () => {
      const account = await accountFor(mode, amount, jobPrice);
      const ledgers = pools.map((pool) => new Ledger(pool.db));
      const outcomes = await watched(account.id, () =>
        Promise.allSettled(
          Array.from({ length: ATTEMPTS }, (_, index) =>
            ledgers[index % POOLS]!.hold({ accountId: account.id, requestId: `pools-${account.id}-${index}`, amount: each }),
          ),
        ),
      );
      expect(tally(outcomes)).toBe(ALLOWED);
      const after = await ledger.getAccount(account.id);
      expect(after.available.isZero()).toBe(true);
      expect((await ledger.openHolds(account.id)).total.toString()).toBe(each.times(ALLOWED).toString());
      await expectEnd(account.id, { balance: each.times(ALLOWED), openHolds: ALLOWED });
    });

    it(`credit leases of one call each from ${POOLS} pools: exactly ${ALLOWED} calls served and charged`, async () => {
      const account = await accountFor(mode, amount, jobPrice);
      const leases = pools.map((pool) => new CreditLeases(pool.db, { callsPerLease: 1 }));
      const outcomes = await watched(account.id, () =>
        Promise.allSettled(
          Array.from({ length: ATTEMPTS }, async (_, index) => {
            const mine = leases[index % POOLS]!;
            const hold = await mine.hold({ accountId: account.id, requestId: `leases-${account.id}-${index}`, amount: each });
            await mine.settle(hold, { amount: each, priceVersion: 1 });
          }),
        ),
      );
      expect(tally(outcomes)).toBe(ALLOWED);
      for (const lease of leases) await lease.close();
      await expectEnd(account.id, { balance: Decimal.ZERO, openHolds: 0 });
    });

    it(`credit leases of 32 calls from ${POOLS} pools: never more served than the account pays for, each charged once`, async () => {
      const account = await accountFor(mode, amount, jobPrice);
      const leases = pools.map((pool) => new CreditLeases(pool.db));
      const outcomes = await watched(account.id, () =>
        Promise.allSettled(
          Array.from({ length: ATTEMPTS }, async (_, index) => {
            const mine = leases[index % POOLS]!;
            const hold = await mine.hold({ accountId: account.id, requestId: `blocks-${account.id}-${index}`, amount: each });
            await mine.settle(hold, { amount: each, priceVersion: 1 });
          }),
        ),
      );
      const served = tally(outcomes);
      // A pool's lease may keep credits another pool's calls could have used (refused a little early), never more.
      expect(served).toBeGreaterThan(0);
      expect(served).toBeLessThanOrEqual(ALLOWED);
      for (const lease of leases) await lease.close();
      await expectEnd(account.id, { balance: each.times(ALLOWED - served), openHolds: 0 });
    });
  });

  describe('from separate processes', () => {
    let workers: ChildProcess[] = [];
    beforeAll(() => {
      workers = forkRaceWorkers(new URL('./support/ledger-race-worker.ts', import.meta.url), PROCESSES);
    });
    afterAll(() => stopRaceWorkers(workers));

    /** Gives every process its order, waits until all are ready, starts them together and collects their reports. */
    async function race(order: Omit<RaceOrder, 'type' | 'url' | 'prefix' | 'count'>): Promise<RaceReport[]> {
      const ready = workers.map((worker) => workerReply(worker, 'ready'));
      workers.forEach((worker, index) =>
        worker.send({
          type: 'run',
          url: database.url!,
          prefix: `${order.kind}-${order.accountId}-p${index}`,
          count: ATTEMPTS / PROCESSES,
          ...order,
        } satisfies RaceOrder),
      );
      await Promise.all(ready);
      const done = workers.map((worker) => workerReply(worker, 'done') as Promise<RaceReport>);
      for (const worker of workers) worker.send({ type: 'go' });
      const reports = await Promise.all(done);
      for (const report of reports) expect(report.errors).toEqual([]);
      return reports;
    }
    const served = (reports: RaceReport[]) => reports.reduce((total, report) => total + report.succeeded, 0);

    it.each(MODES)(
      `$mode: durable holds from ${PROCESSES} processes, exactly ${ALLOWED} of ${ATTEMPTS} succeed`,
      async ({ mode, amount, jobPrice }) => {
        const account = await accountFor(mode, amount, jobPrice);
        const reports = await watched(account.id, () => race({ accountId: account.id, kind: 'hold', amount }));
        expect(served(reports)).toBe(ALLOWED);
        expect(reports.reduce((total, report) => total + report.refused, 0)).toBe(ATTEMPTS - ALLOWED);
        expect((await ledger.getAccount(account.id)).available.isZero()).toBe(true);
        await expectEnd(account.id, { balance: Decimal.parse(amount).times(ALLOWED), openHolds: ALLOWED });
      },
    );

    it.each(MODES)(
      `$mode: credit leases of one call each from ${PROCESSES} processes, exactly ${ALLOWED} calls served and charged`,
      async ({ mode, amount, jobPrice }) => {
        const account = await accountFor(mode, amount, jobPrice);
        const reports = await watched(account.id, () => race({ accountId: account.id, kind: 'lease', amount, callsPerLease: 1 }));
        expect(served(reports)).toBe(ALLOWED);
        await expectEnd(account.id, { balance: Decimal.ZERO, openHolds: 0 });
      },
    );

    it.each(MODES)(
      `$mode: credit leases of 32 calls from ${PROCESSES} processes, never more served than the account pays for`,
      async ({ mode, amount, jobPrice }) => {
        const account = await accountFor(mode, amount, jobPrice);
        const reports = await watched(account.id, () => race({ accountId: account.id, kind: 'lease', amount }));
        const count = served(reports);
        expect(count).toBeGreaterThan(0);
        expect(count).toBeLessThanOrEqual(ALLOWED);
        await expectEnd(account.id, { balance: Decimal.parse(amount).times(ALLOWED - count), openHolds: 0 });
      },
    );
  });
});
