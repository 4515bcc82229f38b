import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../db/database.js';
import { Decimal } from '../money/decimal.js';
import { CapExceededError, CapReservations, type CapSpec } from './cap-reservations.js';
import { Ledger } from './ledger.js';
import { resolveLimitTarget, setLimits } from './limits.js';
import { periodBounds } from './periods.js';

/**
 * Period boundaries on a controlled clock, in a zone that is not UTC: a call that starts before local
 * midnight counts in the old day even when it settles after it; the new day starts empty; a lease of the old
 * day closes once its period is over.
 */
describe('cap periods on a controlled clock', () => {
  let database: Database;
  let cap: CapSpec;
  let now = Date.parse('2026-11-29T22:59:58Z'); // 23:59:58 in Berlin
  const used = async (periodStart: Date) =>
    (
      await database.db
        .selectFrom('limit_usage')
        .select('used')
        .where('limit_id', '=', cap.limitId)
        .where('period_start', '=', periodStart)
        .executeTakeFirst()
    )?.used;

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite', dataDirectory: undefined });
    await migrate(database.db);
    const { account } = await new Ledger(database.db).createAccount({
      name: 'periods',
      mode: 'consumption_usd',
      credits: Decimal.parse('100'),
    });
    const limits = await setLimits(database.db, await resolveLimitTarget(database.db, account.id), {
      cap: Decimal.parse('3'),
      period: 'day',
      timezone: 'Europe/Berlin',
    });
    cap = {
      limitId: limits.id,
      level: 'account',
      name: 'periods',
      cap: limits.cap!,
      period: 'day',
      timezone: 'Europe/Berlin',
      soft: false,
    };
  });
  afterAll(async () => {
    await database?.close();
  });

  it.each([
    { style: 'per call', callsPerLease: 1 },
    { style: 'leased', callsPerLease: 32 },
  ])('a call spanning midnight counts in the day it started; the next day starts empty ($style)', async ({ callsPerLease }) => {
    const caps = new CapReservations(database.db, { callsPerLease, now: () => now, tickMs: 3_600_000 });
    const oldDay = periodBounds('day', 'Europe/Berlin', new Date(now));
    const spanning = await caps.reserve([cap], Decimal.parse('1'), now);
    const second = await caps.reserve([cap], Decimal.parse('1'), now);
    await caps.settle(second, Decimal.parse('1'));
    // Midnight in Berlin: the spanning call settles now, in the old day.
    now = oldDay.resetsAt!.getTime();
    await caps.settle(spanning, Decimal.parse('0.5'));
    await expect(caps.reserve([cap], Decimal.parse('1.6'), now - 1)).rejects.toBeInstanceOf(CapExceededError);
    const refusal = await caps.reserve([cap], Decimal.parse('1.6'), now - 1).then(
      () => undefined,
      (error: unknown) => error as CapExceededError,
    );
    expect(refusal?.resetsAt?.toISOString()).toBe(oldDay.resetsAt!.toISOString());
    // The new day has the whole cap.
    const fresh = await caps.reserve([cap], Decimal.parse('3'), now);
    await caps.settle(fresh, Decimal.parse('3'));
    await caps.close();
    expect(await used(oldDay.start)).toMatch(/^1\.50*$/);
    expect(await used(oldDay.resetsAt!)).toMatch(/^3(\.0*)?$/);
    // Clean slate for the next style: the days are a day later.
    now += 2 * 86_400_000 - 2_000;
  });

  it('a soft cap never refuses; its use is counted', async () => {
    const soft = { ...cap, soft: true, limitId: cap.limitId };
    await database.db.updateTable('limits').set({ soft: true }).where('id', '=', cap.limitId).execute();
    const caps = new CapReservations(database.db, { callsPerLease: 1, now: () => now });
    const hold = await caps.reserve([soft], Decimal.parse('10'), now);
    await caps.settle(hold, Decimal.parse('10'));
    await caps.close();
    expect(await used(periodBounds('day', 'Europe/Berlin', new Date(now)).start)).toMatch(/^10(\.0*)?$/);
  });
});
