import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../db/database.js';
import { CapReservations, type CapSpec } from '../ledger/cap-reservations.js';
import { Ledger } from '../ledger/ledger.js';
import { resolveLimitTarget, setLimits } from '../ledger/limits.js';
import { silentLogger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { capAlerts, lowBalanceAlerts } from './limit-alerts.js';

/** Cap thresholds alert once per cap, period and threshold, whatever raises them; a low balance once per crossing. */
describe('limit alerts', () => {
  let database: Database;
  let ledger: Ledger;
  const raised: Array<{ kind: string; message: string; details: Record<string, unknown> }> = [];
  const raise = async (kind: 'budget_threshold' | 'low_balance', message: string, details: unknown) => {
    raised.push({ kind, message, details: details as Record<string, unknown> });
  };

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite', dataDirectory: undefined });
    await migrate(database.db);
    ledger = new Ledger(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  /** Waits until `count` alerts were raised (they are raised in the background). */
  async function raisedCount(count: number): Promise<void> {
    while (raised.length < count) await new Promise((resolve) => setImmediate(resolve));
  }

  it('50, 80 and 100 percent of a cap: each once per period, from any number of reservation sets', async () => {
    const { account } = await ledger.createAccount({ name: 'alerts', mode: 'consumption_usd', credits: Decimal.parse('100') });
    const limits = await setLimits(database.db, await resolveLimitTarget(database.db, account.id), {
      cap: Decimal.parse('10'),
      period: 'month',
    });
    const cap: CapSpec = {
      limitId: limits.id,
      level: 'account',
      name: 'alerts',
      cap: limits.cap!,
      period: 'month',
      timezone: 'UTC',
      soft: false,
    };
    const onUsage = capAlerts(database.db, raise, [50, 80, 100], silentLogger());
    // Two sets of reservations (two instances) report the same crossings: each threshold is raised once.
    const instances = [
      new CapReservations(database.db, { callsPerLease: 1, onUsage }),
      new CapReservations(database.db, { callsPerLease: 1, onUsage }),
    ];
    const spend = async (index: number, amount: string) => {
      const instance = instances[index % 2]!;
      const hold = await instance.reserve([cap], Decimal.parse(amount), Date.now());
      await instance.settle(hold, Decimal.parse(amount));
    };
    await spend(0, '4');
    await spend(1, '1.5'); // 55%
    await raisedCount(1);
    await spend(0, '0.5');
    await spend(1, '2.5'); // 85%
    await raisedCount(2);
    await spend(0, '1.5'); // 100%
    await raisedCount(3);
    await spend(1, '0');
    for (const instance of instances) await instance.close();
    expect(raised.map((alert) => [alert.kind, alert.details.threshold])).toEqual([
      ['budget_threshold', 50],
      ['budget_threshold', 80],
      ['budget_threshold', 100],
    ]);
    expect(raised[0]!.message).toBe('the account alerts has used 50% of its month cap');
    expect(raised[2]!.details).toMatchObject({ used: '10', cap: '10', period: 'month' });
    const marks = await database.db.selectFrom('limit_alerts').select('threshold').where('limit_id', '=', limits.id).execute();
    expect(marks.map((mark) => mark.threshold).sort((a, b) => a - b)).toEqual([50, 80, 100]);
    raised.length = 0;
  });

  it('a low balance alerts once when credits fall below the level, and again only after a top-up', async () => {
    const { account } = await ledger.createAccount({
      name: 'low',
      mode: 'consumption_usd',
      credits: Decimal.parse('10'),
      lowBalanceAlert: Decimal.parse('5'),
    });
    const watch = lowBalanceAlerts(database.db, raise, silentLogger());
    watch(account.id, Decimal.parse('6'));
    watch(account.id, Decimal.parse('4.99'));
    await raisedCount(1);
    watch(account.id, Decimal.parse('3'));
    watch(account.id, Decimal.parse('20'));
    watch(account.id, Decimal.parse('2'));
    await raisedCount(2);
    expect(raised.map((alert) => [alert.kind, alert.details.creditsLeft])).toEqual([
      ['low_balance', '4.99'],
      ['low_balance', '2'],
    ]);
  });
});
