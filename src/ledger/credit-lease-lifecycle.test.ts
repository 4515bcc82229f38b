import { afterEach, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { refuseEntriesOf } from '../../test/support/database-faults.js';
import { eventually, openLedgerFor } from '../../test/support/ledger-checks.js';
import { until } from '../../test/support/wait.js';
import { Decimal } from '../money/decimal.js';
import { CreditLeases } from './credit-leases.js';
import { Ledger } from './ledger.js';

const d = (text: string) => Decimal.parse(text);
let counter = 0;

/**
 * When a credit lease ends, and what happens to a capture the database refuses for a while. Time is the
 * test's: the leases' clock and their closing tick run on fake timers (vitest), everything else (the
 * database, the writes' retries) on real ones, so a lease's age is exact whatever the machine's load.
 */
describe.each(backends())('credit lease lifecycle on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  afterEach(() => {
    vi.useRealTimers();
  });

  const newAccount = async (credits: string) => {
    counter += 1;
    const { account } = await ledger.createAccount({
      name: `lifecycle-${counter}`,
      mode: 'consumption_usd',
      credits: d(credits),
    });
    return account.id;
  };
  const entries = (accountId: string) =>
    database.db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId).orderBy('id').execute();
  const call = async (leases: CreditLeases, accountId: string, amount: string) => {
    counter += 1;
    const hold = await leases.hold({ accountId, requestId: `req_lifecycle_${counter}`, amount: d('0.01') });
    await leases.settle(hold, { amount: d(amount), priceVersion: 1 });
  };

  it('a lease takes no call from maxAgeMs on, however busy: the next call opens a new lease and the old one is given back', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'], now: new Date('2025-06-01T00:00:00Z') });
    const leases = new CreditLeases(database.db, { maxAgeMs: 10_000, idleMs: 3_600_000, tickMs: 500, callsPerLease: 100 });
    try {
      const accountId = await newAccount('5');
      await call(leases, accountId, '0.001');
      vi.advanceTimersByTime(9_999);
      await call(leases, accountId, '0.002'); // one millisecond short of the age: the same lease
      vi.advanceTimersByTime(1); // the tick at exactly maxAgeMs retires it
      await call(leases, accountId, '0.004');
      await leases.flush();
      // The third call's lease is a new hold, written before the call was served.
      expect((await entries(accountId)).filter((row) => row.kind === 'hold')).toHaveLength(2);
      await eventually(async () => expect((await entries(accountId)).map((entry) => entry.kind)).toContain('release'));
      const rows = await entries(accountId);
      const holds = rows.filter((row) => row.kind === 'hold');
      expect(holds).toHaveLength(2);
      const [first, second] = holds.map((hold) => hold.request_id);
      expect(rows.filter((row) => row.kind === 'capture').map((row) => [row.lease_id, d(row.amount).toString()])).toEqual([
        [first, '-0.001'],
        [first, '-0.002'],
        [second, '-0.004'],
      ]);
      // The old lease gives back exactly what its two calls did not draw: 100 calls' worth less 0.003.
      const release = rows.find((row) => row.kind === 'release')!;
      expect([release.request_id, d(release.amount).toString()]).toEqual([first, '0.997']);
      expect((await ledger.verify()).ok).toBe(true);
    } finally {
      await leases.close();
    }
  });

  it('a lease idle for idleMs is given back by the tick; one used within idleMs stays', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'], now: new Date('2025-06-01T00:00:00Z') });
    // A tick every millisecond, so the idle boundary is checked at each of them.
    const leases = new CreditLeases(database.db, { maxAgeMs: 3_600_000, idleMs: 2_000, tickMs: 1, callsPerLease: 10 });
    try {
      const accountId = await newAccount('5');
      await call(leases, accountId, '0.003');
      await leases.flush();
      vi.advanceTimersByTime(1_999);
      await call(leases, accountId, '0.003'); // used again just in time: the idle clock starts over
      await leases.flush();
      vi.advanceTimersByTime(1_999);
      expect((await entries(accountId)).map((entry) => entry.kind)).not.toContain('release');
      vi.advanceTimersByTime(1);
      await eventually(async () => expect((await entries(accountId)).map((entry) => entry.kind)).toContain('release'));
      const after = await ledger.getAccount(accountId);
      expect([after.balance.toString(), after.available.toString()]).toEqual(['4.994', '4.994']);
      expect((await ledger.verify()).ok).toBe(true);
    } finally {
      await leases.close();
    }
  });

  it('a capture whose write fails transiently for a while is retried until it is written, in full and once', async () => {
    const leases = new CreditLeases(database.db, { callsPerLease: 4 });
    const accountId = await newAccount('1');
    // A transient failure (serialization_failure, which the database asks to retry), not a refusal.
    const fault = await refuseEntriesOf(database.db, accountId, { sqlstate: '40001' });
    try {
      await call(leases, accountId, '0.0042');
      // The first write and at least one retry were refused (or the capture was given up on: then this fails).
      await until(async () => (await fault.attempts()) >= 2 || leases.stats().writesLost > 0, 'the capture to be refused twice');
      expect(leases.stats().writesLost).toBe(0);
    } finally {
      await fault.stop();
    }
    await leases.flush();
    await eventually(async () => expect((await entries(accountId)).map((entry) => entry.kind)).toContain('capture'));
    const captures = (await entries(accountId)).filter((entry) => entry.kind === 'capture');
    expect(captures.map((capture) => d(capture.amount).toString())).toEqual(['-0.0042']);
    expect(leases.stats().writesLost).toBe(0);
    await leases.close();
    const after = await ledger.getAccount(accountId);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['0.9958', '0.9958']);
    expect((await ledger.verify()).ok).toBe(true);
  });
});
