import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { insertInstanceRow, openLedgerFor, stoppedAtOf } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import {
  declareInstancesDead,
  declareSilentInstancesDead,
  forgetStoppedInstances,
  releaseHoldsOfDeadInstances,
} from './dead-instances.js';
import { Ledger } from './ledger.js';

const d = (text: string) => Decimal.parse(text);
const PAST = new Date('2024-01-01T00:00:00Z');

/** Each test opens its own database: these functions act on every instance and hold there is. */
describe.each(backends())('dead instance rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  let counter = 0;
  const fresh = async () => {
    database = await backend.open();
    ledger = new Ledger(database.db);
  };

  const register = (id: string, options: { heartbeatSecondsAgo?: number; stoppedHoursAgo?: number } = {}) =>
    insertInstanceRow(database.db, id, options);
  const stoppedAt = (id: string) => stoppedAtOf(database.db, id);
  const ids = async () =>
    (await database.db.selectFrom('gateway_instances').select('id').orderBy('id').execute()).map((row) => row.id);
  const account = async (credits: string) => {
    counter += 1;
    return (await ledger.createAccount({ name: `dead-rules-${counter}`, mode: 'consumption_usd', credits: d(credits) })).account
      .id;
  };
  const hold = (accountId: string, requestId: string, ownerId?: string, amount = '0.1') =>
    ledger.hold({ accountId, requestId, amount: d(amount), ...(ownerId ? { ownerId } : {}) });
  const releases = async () =>
    (
      await database.db
        .selectFrom('ledger_entries')
        .select(['request_id', 'amount', 'note'])
        .where('kind', '=', 'release')
        .orderBy('id')
        .execute()
    ).map((row) => [row.request_id, d(row.amount).toString(), row.note]);

  it("declares dead the instances silent longer than the silence (by the database's clock), once, and returns their ids", async () => {
    await fresh();
    try {
      await register('inst_silent', { heartbeatSecondsAgo: 60 });
      await register('inst_recent', { heartbeatSecondsAgo: 20 });
      await register('inst_gone', { heartbeatSecondsAgo: 60, stoppedHoursAgo: 1 });
      const before = await stoppedAt('inst_gone');
      expect(await declareSilentInstancesDead(database.db, 30_000)).toEqual(['inst_silent']);
      expect(await stoppedAt('inst_silent')).not.toBeNull();
      expect(await stoppedAt('inst_recent')).toBeNull();
      expect(await stoppedAt('inst_gone')).toEqual(before);
      expect(await declareSilentInstancesDead(database.db, 30_000)).toEqual([]);
      // With a silence of 10 s, 20 s is silent too.
      expect(await declareSilentInstancesDead(database.db, 10_000)).toEqual(['inst_recent']);
    } finally {
      await database.close();
    }
  });

  it('declares the named instances dead, keeping the time of those already stopped; none named changes nothing', async () => {
    await fresh();
    try {
      await register('inst_a');
      await register('inst_b');
      await database.db.updateTable('gateway_instances').set({ stopped_at: PAST }).where('id', '=', 'inst_b').execute();
      await declareInstancesDead(database.db, []);
      expect(await stoppedAt('inst_a')).toBeNull();
      await declareInstancesDead(database.db, ['inst_a', 'inst_b', 'inst_unknown']);
      expect(await stoppedAt('inst_a')).not.toBeNull();
      expect(await stoppedAt('inst_b')).toEqual(PAST);
      expect(await ids()).toEqual(['inst_a', 'inst_b']);
    } finally {
      await database.close();
    }
  });

  it('releases the open holds of stopped and unknown owners, batch after batch, but not of the living, the unowned, the settled or this instance', async () => {
    await fresh();
    try {
      const accountId = await account('10');
      await register('inst_stopped', { stoppedHoursAgo: 1 });
      await register('inst_alive');
      await register('inst_me', { stoppedHoursAgo: 1 });
      for (let n = 1; n <= 4; n += 1) await hold(accountId, `req_dead_${n}`, 'inst_stopped');
      await hold(accountId, 'req_missing_owner', 'inst_missing');
      await hold(accountId, 'req_alive', 'inst_alive');
      await hold(accountId, 'req_unowned');
      await hold(accountId, 'req_mine', 'inst_me');
      await hold(accountId, 'req_settled', 'inst_stopped');
      await ledger.capture({ requestId: 'req_settled', amount: d('0.05') });
      // Five holds to release, two at a time: the last batch has one.
      expect(await releaseHoldsOfDeadInstances(database.db, { exceptId: 'inst_me', batch: 2 })).toBe(5);
      const note = 'released: its gateway instance stopped or went silent';
      expect(await releases()).toEqual([
        ['req_dead_1', '0.1', note],
        ['req_dead_2', '0.1', note],
        ['req_dead_3', '0.1', note],
        ['req_dead_4', '0.1', note],
        ['req_missing_owner', '0.1', note],
      ]);
      expect(await releaseHoldsOfDeadInstances(database.db, { exceptId: 'inst_me' })).toBe(0);
      // Without an exception, this instance's own stopped holds go too.
      expect(await releaseHoldsOfDeadInstances(database.db)).toBe(1);
      expect((await releases()).map(([requestId]) => requestId)).toContain('req_mine');
      expect((await ledger.openHolds(accountId)).total.toString()).toBe('0.2');
      expect((await ledger.verify()).ok).toBe(true);
    } finally {
      await database.close();
    }
  });

  it('a batch exactly full is followed by another look', async () => {
    await fresh();
    try {
      const accountId = await account('10');
      await register('inst_stopped', { stoppedHoursAgo: 1 });
      for (let n = 1; n <= 4; n += 1) await hold(accountId, `req_full_${n}`, 'inst_stopped');
      expect(await releaseHoldsOfDeadInstances(database.db, { batch: 2 })).toBe(4);
      expect(await releaseHoldsOfDeadInstances(database.db, { batch: 4 })).toBe(0);
    } finally {
      await database.close();
    }
  });

  it('captured holds of a dead instance are not looked at again: with more of them than a batch, the release ends', async () => {
    await fresh();
    try {
      const accountId = await account('10');
      await register('inst_stopped', { stoppedHoursAgo: 1 });
      for (let n = 1; n <= 3; n += 1) {
        await hold(accountId, `req_captured_${n}`, 'inst_stopped');
        await ledger.capture({ requestId: `req_captured_${n}`, amount: d('0.05') });
      }
      await hold(accountId, 'req_open', 'inst_stopped');
      // Counted as open, the captured holds would fill every batch of two, again and again.
      expect(await releaseHoldsOfDeadInstances(database.db, { batch: 2 })).toBe(1);
      expect((await releases()).map(([requestId]) => requestId)).toEqual(['req_open']);
    } finally {
      await database.close();
    }
  });

  it('forgets instances stopped more than afterHours ago that hold nothing open, and says how many', async () => {
    await fresh();
    try {
      const accountId = await account('10');
      await register('inst_old_empty', { stoppedHoursAgo: 25 });
      await register('inst_old_settled', { stoppedHoursAgo: 25 });
      await register('inst_old_holding', { stoppedHoursAgo: 25 });
      await register('inst_young', { stoppedHoursAgo: 23 });
      await register('inst_running', { heartbeatSecondsAgo: 100_000 });
      await register('inst_old_captured', { stoppedHoursAgo: 25 });
      await hold(accountId, 'req_settled_old', 'inst_old_settled');
      await ledger.release('req_settled_old', 'done');
      // A hold settled by its capture holds nothing either.
      await hold(accountId, 'req_captured_old', 'inst_old_captured');
      await ledger.capture({ requestId: 'req_captured_old', amount: d('0.05') });
      await hold(accountId, 'req_open_old', 'inst_old_holding');
      expect(await forgetStoppedInstances(database.db, 24)).toBe(3);
      expect(await ids()).toEqual(['inst_old_holding', 'inst_running', 'inst_young']);
      expect(await forgetStoppedInstances(database.db, 22)).toBe(1);
      expect(await ids()).toEqual(['inst_old_holding', 'inst_running']);
    } finally {
      await database.close();
    }
  });
});
