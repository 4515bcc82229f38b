import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/database.js';
import type { BudgetMode } from '../src/db/schema.js';
import { writeUsageRecords } from '../src/gateway/usage-writer.js';
import { captureBatch } from '../src/ledger/capture-batch.js';
import { holdBatcher } from '../src/ledger/hold-batch.js';
import { releaseHold } from '../src/ledger/settlement.js';
import { InsufficientCreditsError } from '../src/ledger/errors.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';
import { postgresBackend, type TestDatabase } from './support/backends.js';
import { usageRecordRow } from './support/usage-records.js';
import { until } from './support/wait.js';

/**
 * The overselling bug every peer shipped (litellm#34732, one-api#2440: parallel requests all pass a
 * read-then-write budget check) only shows with real parallel connections, so this suite runs on PostgreSQL.
 * Its bursts go through one Ledger on one handle, whose group commit decides them one transaction at a time:
 * they test the batching's rules. Holds racing from separate pools and processes, which meet only in
 * PostgreSQL, are test/ledger-races.test.ts.
 */
const backend = postgresBackend();
const reason = backend ? '' : ' (skipped: set TEST_DATABASE_URL to a PostgreSQL server to run it)';

describe.skipIf(!backend)(`ledger concurrency on postgres${reason}`, () => {
  let database: TestDatabase;
  let ledger: Ledger;
  beforeAll(async () => {
    database = await backend!.open();
    ledger = new Ledger(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const cases: Array<{ mode: BudgetMode; credits: string; hold: string; jobPrice?: string }> = [
    { mode: 'consumption_usd', credits: '1.00', hold: '0.01' },
    { mode: 'consumption_tokens', credits: '1000', hold: '10' },
    { mode: 'job_based', credits: '1.00', hold: '0.01', jobPrice: '0.01' },
  ];

  it.each(cases)(
    '500 concurrent holds through one handle, $hold against $credits ($mode): exactly 100 succeed',
    async ({ mode, credits, hold, jobPrice }) => {
      const { account } = await ledger.createAccount({
        name: `burst-${mode}`,
        mode,
        credits: Decimal.parse(credits),
        ...(jobPrice ? { jobPrice: Decimal.parse(jobPrice) } : {}),
      });
      const amount = Decimal.parse(hold);
      let lowestAvailable = Decimal.parse(credits);
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const row = await database.db
            .selectFrom('accounts')
            .select(['available', 'balance'])
            .where('id', '=', account.id)
            .executeTakeFirstOrThrow();
          lowestAvailable = Decimal.min(lowestAvailable, Decimal.parse(row.available));
          expect(Decimal.parse(row.balance).isNegative()).toBe(false);
        }
      })();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 500 }, (_, index) => ledger.hold({ accountId: account.id, requestId: `${mode}-${index}`, amount })),
      );
      sampling = false;
      await sampler;
      const succeeded = outcomes.flatMap((outcome, index) => (outcome.status === 'fulfilled' ? [index] : []));
      const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(succeeded).toHaveLength(100);
      expect(failures).toHaveLength(400);
      for (const failure of failures) expect((failure as PromiseRejectedResult).reason).toBeInstanceOf(InsufficientCreditsError);
      expect(lowestAvailable.isNegative()).toBe(false);
      expect((await ledger.getAccount(account.id)).available.isZero()).toBe(true);

      // Settle every hold concurrently: even ones captured at the full amount, odd ones released.
      await Promise.all(
        succeeded.map((index) =>
          index % 2 === 0
            ? ledger.capture({ requestId: `${mode}-${index}`, amount })
            : ledger.release(`${mode}-${index}`, 'upstream error'),
        ),
      );
      // Retries after success charge nothing more.
      const retries = await Promise.all(
        succeeded.filter((index) => index % 2 === 0).map((index) => ledger.capture({ requestId: `${mode}-${index}`, amount })),
      );
      expect(retries.every((retry) => retry.replayed)).toBe(true);
      const captured = succeeded.filter((index) => index % 2 === 0).length;
      const after = await ledger.getAccount(account.id);
      expect(after.balance.toString()).toBe(Decimal.parse(credits).sub(amount.times(captured)).toString());
      expect(after.available.eq(after.balance)).toBe(true);
      expect((await ledger.openHolds(account.id)).count).toBe(0);
      expect((await ledger.verify()).ok).toBe(true);
    },
  );

  it('20 concurrent holds for one request take the credits once', async () => {
    const { account } = await ledger.createAccount({ name: 'double-hold', mode: 'consumption_usd', credits: Decimal.parse('1') });
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => ledger.hold({ accountId: account.id, requestId: 'same', amount: Decimal.parse('0.3') })),
    );
    expect(outcomes.every((outcome) => outcome.available.toString() === '0.7')).toBe(true);
    expect((await ledger.openHolds(account.id)).total.toString()).toBe('0.3');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('20 concurrent captures of one request write one capture and charge once', async () => {
    const { account } = await ledger.createAccount({
      name: 'double-capture',
      mode: 'consumption_usd',
      credits: Decimal.parse('5'),
    });
    await ledger.hold({ accountId: account.id, requestId: 'once', amount: Decimal.parse('1') });
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => ledger.capture({ requestId: 'once', amount: Decimal.parse('0.4') })),
    );
    expect(outcomes.filter((outcome) => !outcome.replayed)).toHaveLength(1);
    expect(outcomes.every((outcome) => outcome.captured.toString() === '0.4')).toBe(true);
    expect((await ledger.getAccount(account.id)).balance.toString()).toBe('4.6');
    expect((await ledger.entries(account.id, { kinds: ['capture'] })).length).toBe(1);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a capture racing a release settles the hold exactly once', async () => {
    const { account } = await ledger.createAccount({ name: 'race', mode: 'consumption_usd', credits: Decimal.parse('1') });
    for (let round = 0; round < 20; round += 1) {
      await ledger.hold({ accountId: account.id, requestId: `race-${round}`, amount: Decimal.parse('0.05') });
      await Promise.all([
        ledger.capture({ requestId: `race-${round}`, amount: Decimal.parse('0.01') }),
        ledger.release(`race-${round}`, 'client aborted'),
      ]);
    }
    expect((await ledger.openHolds(account.id)).count).toBe(0);
    expect((await ledger.verify()).ok).toBe(true);
  });
});

/**
 * A ledger batch (captures, a lease's release, holds) locks its accounts' rows while it runs; a usage record or
 * ledger entry inserted meanwhile by another writer (the usage batch, another gateway process) checks its
 * foreign key to the account with FOR KEY SHARE. The batches lock FOR NO KEY UPDATE, as an UPDATE of the
 * balance does, which that check does not wait for: with FOR UPDATE, every usage batch of two processes
 * billing one account waited for the other's capture batches (bench:gateway with two workers: a usage batch
 * took 115 ms on average instead of 16).
 *
 * Each case stalls the batch while it holds the row: another transaction has inserted, not committed, an
 * entry with the request and kind the batch is about to insert (for another account, whose row that insert's
 * own foreign key check locks), so the batch waits on that unique key. A usage record for the batch's account
 * must then go in, on a connection that gives up after 10 s of waiting for a lock.
 */
describe.skipIf(!backend)(`a ledger batch and another writer's usage records on postgres${reason}`, () => {
  let database: TestDatabase;
  let other: Database;
  let ledger: Ledger;
  let bystander: string;
  beforeAll(async () => {
    database = await backend!.open();
    ledger = new Ledger(database.db);
    bystander = (await ledger.createAccount({ name: 'lock-bystander', mode: 'consumption_usd' })).account.id;
    const url = new URL(database.url!);
    url.searchParams.set('options', '-c lock_timeout=10000');
    other = await openDatabase({ kind: 'postgres', url: url.toString() });
  });
  afterAll(async () => {
    await other?.close();
    await database?.close();
  });

  /** An account of its own for a case, with 1 USD. */
  async function fundedAccount(name: string): Promise<string> {
    return (await ledger.createAccount({ name, mode: 'consumption_usd', credits: Decimal.parse('1') })).account.id;
  }

  async function stalledWhileRecording<Outcome>(
    accountId: string,
    stall: { requestId: string; kind: 'capture' | 'release' | 'hold' },
    run: () => Promise<Outcome>,
  ): Promise<Outcome> {
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      // On another account: its foreign key check locks that account's row, not the batch's.
      await blocker.query(
        `insert into ledger_entries (account_id, kind, amount, unit, request_id) values ($1, $2, 0, 'usd', $3)`,
        [bystander, stall.kind, stall.requestId],
      );
      const blockerPid = (await blocker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const running = run();
      running.catch(() => undefined);
      await until(
        async () =>
          (
            await blocker.query<{ n: number }>(
              'select count(*)::int as n from pg_stat_activity where datname = current_database() and $1 = any(pg_blocking_pids(pid))',
              [blockerPid],
            )
          ).rows[0]!.n === 1,
        `the ledger batch to wait on the uncommitted ${stall.kind} of ${stall.requestId}`,
      );
      // The batch holds the account's row and waits: another writer's record for the account goes in.
      const recorded = await writeUsageRecords(other.db, [
        usageRecordRow(`${stall.requestId}-record`, accountId, new Date().toISOString()),
      ]);
      expect(recorded).toBe(1);
      await blocker.query('rollback');
      return await running;
    } finally {
      await blocker.end();
    }
  }

  it('a capture batch', async () => {
    const accountId = await fundedAccount('lock-capture');
    for (const requestId of ['lock-capture-1', 'lock-capture-2'])
      await ledger.hold({ accountId, requestId, amount: Decimal.parse('0.3') });
    const results = await stalledWhileRecording(accountId, { requestId: 'lock-capture-2', kind: 'capture' }, () =>
      captureBatch(database.db, [
        { requestId: 'lock-capture-1', amount: Decimal.parse('0.1') },
        { requestId: 'lock-capture-2', amount: Decimal.parse('0.2') },
      ]),
    );
    expect(results.map((result) => ('value' in result ? result.value.captured.toString() : result.error))).toEqual([
      '0.1',
      '0.2',
    ]);
    expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.7');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it("a release (a lease's close, a failed call's hold)", async () => {
    const accountId = await fundedAccount('lock-release');
    await ledger.hold({ accountId, requestId: 'lock-release-1', amount: Decimal.parse('0.4') });
    const { released, amount } = await stalledWhileRecording(accountId, { requestId: 'lock-release-1', kind: 'release' }, () =>
      releaseHold(database.db, 'lock-release-1'),
    );
    expect([released, amount.toString()]).toEqual([true, '0.4']);
    expect((await ledger.getAccount(accountId)).available.toString()).toBe('1');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a batch of holds', async () => {
    const accountId = await fundedAccount('lock-holds');
    // The first hold goes alone and is kept in flight until the other two are queued: they share a transaction.
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const holds = holdBatcher(database.db, async (_db, input) => {
      await admitted;
      return ledger.hold(input);
    });
    const inputs = ['lock-holds-1', 'lock-holds-2', 'lock-holds-3'].map((requestId) => ({
      accountId,
      requestId,
      amount: Decimal.parse('0.25'),
    }));
    const first = holds.submit(inputs[0]!);
    const outcomes = await stalledWhileRecording(accountId, { requestId: 'lock-holds-3', kind: 'hold' }, () => {
      const rest = inputs.slice(1).map((input) => holds.submit(input));
      admit();
      return Promise.all([first, ...rest]);
    });
    expect(outcomes.map((outcome) => outcome.available.toString())).toEqual(['0.75', '0.5', '0.25']);
    expect((await ledger.openHolds(accountId)).total.toString()).toBe('0.75');
    expect((await ledger.verify()).ok).toBe(true);
  });
});
