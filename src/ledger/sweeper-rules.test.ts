import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { insertInstanceRow, stoppedAtOf } from '../../test/support/ledger-checks.js';
import { until } from '../../test/support/wait.js';
import { createLogger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { GatewayInstance } from './gateway-instance.js';
import { Ledger } from './ledger.js';
import { startHoldSweeper } from './sweeper.js';

const d = (text: string) => Decimal.parse(text);

/** Each test opens its own database: a sweep acts on every instance and hold there is. */
describe.each(backends())('hold sweeper rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  afterEach(async () => {
    vi.useRealTimers();
    await database?.close();
  });
  const fresh = async () => {
    database = await backend.open();
    ledger = new Ledger(database.db);
  };
  const register = (id: string, options: { heartbeatSecondsAgo?: number; stoppedHoursAgo?: number } = {}) =>
    insertInstanceRow(database.db, id, options);
  const stoppedAt = (id: string) => stoppedAtOf(database.db, id);
  const account = async () =>
    (await ledger.createAccount({ name: 'sweep-rules', mode: 'consumption_usd', credits: d('10') })).account.id;

  it('declares silent instances dead only once its own heartbeat has been steady a whole silence, then releases their holds', async () => {
    await fresh();
    let clock = 0;
    const me = await GatewayInstance.register(database.db, { silenceMs: 30_000, now: () => clock });
    const { logger, logged } = recordingLogger();
    const sweeper = startHoldSweeper({ ledger, maxAgeSeconds: 3_600, intervalSeconds: 3_600, instance: me, logger });
    try {
      const accountId = await account();
      await register('inst_silent', { heartbeatSecondsAgo: 60 });
      await ledger.hold({ accountId, requestId: 'req_silent', amount: d('1'), ownerId: 'inst_silent' });
      await ledger.hold({ accountId, requestId: 'req_mine', amount: d('1'), ownerId: me.id });
      clock = 15_000;
      await me.beat();
      clock = 29_999; // steady for one millisecond less than the silence
      expect(await sweeper.sweepNow()).toBe(0);
      expect(await stoppedAt('inst_silent')).toBeNull();
      expect(logged()).toEqual([]);
      clock = 30_000;
      expect(await sweeper.sweepNow()).toBe(1);
      expect(await stoppedAt('inst_silent')).not.toBeNull();
      expect(logged()).toEqual([
        { level: 40, instances: ['inst_silent'], msg: 'gateway instances silent for too long were declared dead' },
        { level: 30, released: 1, msg: 'released the holds of stopped or silent instances, and stale holds' },
      ]);
      expect((await ledger.openHolds(accountId)).total.toString()).toBe('1');
      // Nothing left: no log.
      expect(await sweeper.sweepNow()).toBe(0);
      expect(logged()).toHaveLength(2);
    } finally {
      sweeper.stop();
      await me.stop();
    }
  });

  it("releases a stopped instance's holds and forgets instances stopped a day ago; without an instance it does neither", async () => {
    await fresh();
    const accountId = await account();
    await register('inst_stopped', { stoppedHoursAgo: 1 });
    await register('inst_forgotten', { stoppedHoursAgo: 25 });
    await register('inst_kept', { stoppedHoursAgo: 23 });
    await ledger.hold({ accountId, requestId: 'req_stopped', amount: d('1'), ownerId: 'inst_stopped' });
    const logger = createLogger('silent');
    const alone = startHoldSweeper({ ledger, maxAgeSeconds: 3_600, intervalSeconds: 3_600, logger });
    expect(await alone.sweepNow()).toBe(0);
    alone.stop();
    expect((await ledger.openHolds(accountId)).total.toString()).toBe('1');
    const me = await GatewayInstance.register(database.db, { silenceMs: 30_000 });
    const sweeper = startHoldSweeper({ ledger, maxAgeSeconds: 3_600, intervalSeconds: 3_600, instance: me, logger });
    try {
      expect(await sweeper.sweepNow()).toBe(1);
      expect((await ledger.openHolds(accountId)).total.toString()).toBe('0');
      const left = (await database.db.selectFrom('gateway_instances').select('id').execute()).map((row) => row.id).sort();
      expect(left).toEqual([me.id, 'inst_kept', 'inst_stopped'].sort());
    } finally {
      sweeper.stop();
      await me.stop();
    }
  });

  it('a sweep asked for while one runs is that same sweep; the next one is new', async () => {
    await fresh();
    const sweeper = startHoldSweeper({ ledger, maxAgeSeconds: 3_600, intervalSeconds: 3_600, logger: createLogger('silent') });
    try {
      const first = sweeper.sweepNow();
      expect(sweeper.sweepNow()).toBe(first);
      await first;
      const next = sweeper.sweepNow();
      expect(next).not.toBe(first);
      await next;
    } finally {
      sweeper.stop();
    }
  });

  it('a failed sweep is logged and counts nothing; once stopped, a failure is not logged', async () => {
    await fresh();
    const broken = await backend.open();
    await broken.close();
    const { logger, logged } = recordingLogger();
    const sweeper = startHoldSweeper({ ledger: new Ledger(broken.db), maxAgeSeconds: 60, intervalSeconds: 3_600, logger });
    expect(await sweeper.sweepNow()).toBe(0);
    expect(logged()).toEqual([
      expect.objectContaining({ level: 50, err: expect.any(Object), msg: 'hold sweep failed; will retry at the next interval' }),
    ]);
    sweeper.stop();
    expect(await sweeper.sweepNow()).toBe(0);
    expect(logged()).toHaveLength(1);
  });

  it('sweeps every intervalSeconds, and not once stopped', async () => {
    await fresh();
    const accountId = await account();
    await ledger.hold({ accountId, requestId: 'req_stale', amount: d('1') });
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { logger, logged } = recordingLogger();
    // Every hold placed before the sweep's transaction is older than 0 s.
    const sweeper = startHoldSweeper({ ledger, maxAgeSeconds: 0, intervalSeconds: 60, logger });
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(59_999);
    expect((await ledger.openHolds(accountId)).total.toString()).toBe('1');
    vi.advanceTimersByTime(1);
    await until(() => logged().length > 0, 'the sweep at the interval');
    expect(logged()).toEqual([
      { level: 30, released: 1, msg: 'released the holds of stopped or silent instances, and stale holds' },
    ]);
    expect((await ledger.openHolds(accountId)).total.toString()).toBe('0');
    sweeper.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
