import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetMode } from '../src/db/schema.js';
import { InsufficientCreditsError } from '../src/ledger/errors.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';
import { postgresBackend, type TestDatabase } from './support/backends.js';

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
