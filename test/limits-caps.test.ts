import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetMode } from '../src/db/schema.js';
import { CapReservations, type CapSpec } from '../src/ledger/cap-reservations.js';
import { CreditLeases } from '../src/ledger/credit-leases.js';
import { Ledger } from '../src/ledger/ledger.js';
import { resolveLimitTarget, setLimits, type LimitChanges } from '../src/ledger/limits.js';
import { periodBounds } from '../src/ledger/periods.js';
import { perCallReservations } from '../src/ledger/reservations.js';
import { Decimal } from '../src/money/decimal.js';
import { backends, postgresBackend, type TestDatabase } from './support/backends.js';
import { cappedCall, capUsed, servedCount } from './support/capped-calls.js';
import type { CapRaceOrder, CapRaceReport } from './support/cap-race-worker.js';
import { forkRaceWorkers, stopRaceWorkers, workerReply } from './support/race-workers.js';

/**
 * Spend caps under concurrency: a key capped at 100 calls' worst case serves exactly 100 of 500 concurrent
 * calls, in every budget mode, with caps leased in blocks (the default) or reserved per call; a team's levels
 * (two children with their own caps on one parent wallet with its own) are never exceeded; and on PostgreSQL
 * the same from three processes racing on one cap.
 */
const MODES: Array<{ mode: BudgetMode; amount: string; jobPrice?: string }> = [
  { mode: 'consumption_usd', amount: '0.0123' },
  { mode: 'consumption_tokens', amount: '1037' },
  { mode: 'job_based', amount: '0.25', jobPrice: '0.25' },
];
const CALLS = 500;
const CAP_CALLS = 100;

let counter = 0;

async function walletWithKey(ledger: Ledger, mode: BudgetMode, amount: string, jobPrice?: string) {
  counter += 1;
  return ledger.createAccount({
    name: `caps-${mode}-${counter}`,
    mode,
    credits: Decimal.parse(amount).times(CAP_CALLS * 10),
    ...(jobPrice ? { jobPrice: Decimal.parse(jobPrice) } : {}),
  });
}

async function capOn(database: TestDatabase, target: string, changes: LimitChanges): Promise<CapSpec> {
  const resolved = await resolveLimitTarget(database.db, target);
  const limits = await setLimits(database.db, resolved, changes);
  return {
    limitId: limits.id,
    level: resolved.kind,
    name: target,
    cap: limits.cap!,
    period: limits.period,
    timezone: limits.timezone,
    soft: limits.soft,
  };
}

describe.each(backends())('spend caps on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;

  beforeAll(async () => {
    database = await backend.open();
    ledger = new Ledger(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  describe.each(MODES)('$mode', ({ mode, amount, jobPrice }) => {
    const each = Decimal.parse(amount);

    it.each([
      { style: 'caps and credits leased in blocks of 32 calls', callsPerLease: 32 },
      { style: 'caps and credits reserved per call', callsPerLease: 1 },
    ])(
      `${CALLS} concurrent calls on a key capped at ${CAP_CALLS} worst cases: exactly ${CAP_CALLS} served ($style)`,
      async ({ callsPerLease }) => {
        const { account, apiKey } = await walletWithKey(ledger, mode, amount, jobPrice);
        const spec = await capOn(database, apiKey.prefix, { cap: each.times(CAP_CALLS), period: 'total' });
        const caps = new CapReservations(database.db, { callsPerLease });
        const reservations = callsPerLease === 1 ? perCallReservations(ledger) : new CreditLeases(database.db, { callsPerLease });
        const outcomes = await Promise.allSettled(
          Array.from({ length: CALLS }, (_, index) =>
            cappedCall(caps, reservations, {
              specs: [spec],
              walletId: account.id,
              requestId: `cap-${account.id}-${index}`,
              amount: each,
            }),
          ),
        );
        const counted = servedCount(outcomes);
        expect(counted).toEqual({ served: CAP_CALLS, capRefusals: CALLS - CAP_CALLS, creditRefusals: 0 });
        await caps.close();
        await reservations.close();
        expect((await capUsed(database.db, spec.limitId, new Date(0))).toString()).toBe(each.times(CAP_CALLS).toString());
        const after = await ledger.getAccount(account.id);
        expect(after.balance.toString()).toBe(each.times(CAP_CALLS * 9).toString());
        expect(after.available.toString()).toBe(after.balance.toString());
        expect((await ledger.verify()).ok).toBe(true);
      },
    );
  });

  it('a team of two children on one parent wallet: no level exceeded under concurrent load, and verify passes', async () => {
    counter += 1;
    const each = Decimal.parse('0.25');
    const { account: parent } = await ledger.createAccount({
      name: `team-parent-${counter}`,
      mode: 'job_based',
      jobPrice: each,
      credits: each.times(1_000),
    });
    const children = await Promise.all(
      ['a', 'b'].map((suffix) =>
        ledger.createAccount({ name: `team-${counter}-${suffix}`, mode: 'job_based', parent: parent.id }),
      ),
    );
    const zone = 'America/New_York';
    const parentCap = await capOn(database, parent.id, { cap: each.times(150), period: 'month', timezone: zone });
    const childCaps = await Promise.all(
      children.map(({ account }) => capOn(database, account.id, { cap: each.times(100), period: 'month', timezone: zone })),
    );
    const caps = new CapReservations(database.db);
    const leases = new CreditLeases(database.db);
    const outcomes = await Promise.all(
      children.map(async ({ account }, child) =>
        Promise.allSettled(
          Array.from({ length: 200 }, (_, index) =>
            cappedCall(caps, leases, {
              specs: [childCaps[child]!, parentCap],
              walletId: parent.id,
              requestId: `team-${account.id}-${index}`,
              amount: each,
            }),
          ),
        ),
      ),
    );
    const served = outcomes.map((list) => servedCount(list).served);
    expect(served[0]!).toBeLessThanOrEqual(100);
    expect(served[1]!).toBeLessThanOrEqual(100);
    expect(served[0]! + served[1]!).toBe(150);
    await caps.close();
    await leases.close();
    const month = periodBounds('month', zone, new Date()).start;
    expect((await capUsed(database.db, parentCap.limitId, month)).toString()).toBe(each.times(150).toString());
    for (const [child, spec] of childCaps.entries()) {
      expect((await capUsed(database.db, spec.limitId, month)).toString()).toBe(each.times(served[child]!).toString());
    }
    expect((await ledger.getAccount(parent.id)).balance.toString()).toBe(each.times(850).toString());
    for (const { account } of children) expect((await ledger.getAccount(account.id)).balance.isZero()).toBe(true);
    expect((await ledger.verify()).ok).toBe(true);
  });
});

const postgres = postgresBackend();
const reason = postgres ? '' : ' (skipped: set TEST_DATABASE_URL to a PostgreSQL server to run it)';
const PROCESSES = 3;

describe.skipIf(!postgres)(`one key cap raced from ${PROCESSES} processes on postgres${reason}`, () => {
  let database: TestDatabase;
  let ledger: Ledger;
  let workers: ChildProcess[] = [];

  beforeAll(async () => {
    database = await postgres!.open();
    ledger = new Ledger(database.db);
    workers = forkRaceWorkers(new URL('./support/cap-race-worker.ts', import.meta.url), PROCESSES);
  });
  afterAll(async () => {
    await stopRaceWorkers(workers);
    await database?.close();
  });

  async function race(order: Omit<CapRaceOrder, 'type' | 'url' | 'prefix'>, racers = workers): Promise<number> {
    const ready = racers.map((worker) => workerReply(worker, 'ready'));
    racers.forEach((worker, index) =>
      worker.send({
        type: 'run',
        url: database.url!,
        prefix: `${order.walletId}-${counter}-p${index}`,
        ...order,
      } satisfies CapRaceOrder),
    );
    await Promise.all(ready);
    const done = racers.map((worker) => workerReply(worker, 'done') as Promise<CapRaceReport>);
    for (const worker of racers) worker.send({ type: 'go' });
    const reports = await Promise.all(done);
    for (const report of reports) expect(report.errors).toEqual([]);
    return reports.reduce((total, report) => total + report.served, 0);
  }

  describe.each(MODES)('$mode', ({ mode, amount, jobPrice }) => {
    const each = Decimal.parse(amount);

    it(`reserved per call: exactly ${CAP_CALLS} of ${CALLS} served`, async () => {
      counter += 1;
      const { account, apiKey } = await walletWithKey(ledger, mode, amount, jobPrice);
      const spec = await capOn(database, apiKey.prefix, { cap: each.times(CAP_CALLS), period: 'total' });
      const served = await race({
        walletId: account.id,
        specs: [{ ...spec, cap: spec.cap.toString() }],
        count: Math.ceil(CALLS / PROCESSES),
        amount,
        callsPerLease: 1,
      });
      expect(served).toBe(CAP_CALLS);
      expect((await capUsed(database.db, spec.limitId, new Date(0))).toString()).toBe(each.times(CAP_CALLS).toString());
      expect((await ledger.getAccount(account.id)).balance.toString()).toBe(each.times(CAP_CALLS * 9).toString());
      expect((await ledger.verify()).ok).toBe(true);
    });

    it(`leased in blocks: never more than ${CAP_CALLS}; once the leases are back, the rest of the cap serves exactly up to it`, async () => {
      counter += 1;
      const { account, apiKey } = await walletWithKey(ledger, mode, amount, jobPrice);
      const spec = await capOn(database, apiKey.prefix, { cap: each.times(CAP_CALLS), period: 'total' });
      const order = { walletId: account.id, specs: [{ ...spec, cap: spec.cap.toString() }], amount, callsPerLease: 32 };
      const first = await race({ ...order, count: Math.ceil(CALLS / PROCESSES) });
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(CAP_CALLS);
      // Every process gave its leases back when it finished: the cap's use is exactly what was served.
      expect((await capUsed(database.db, spec.limitId, new Date(0))).toString()).toBe(each.times(first).toString());
      counter += 1;
      const second = await race({ ...order, count: CALLS }, workers.slice(0, 1));
      expect(first + second).toBe(CAP_CALLS);
      expect((await ledger.getAccount(account.id)).balance.toString()).toBe(each.times(CAP_CALLS * 9).toString());
      expect((await ledger.verify()).ok).toBe(true);
    });
  });
});
