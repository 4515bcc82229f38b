import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { stoppedAtOf } from '../../test/support/ledger-checks.js';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { GatewayInstance } from './gateway-instance.js';

/** The instance's own heartbeat, stop and death notice, each on a clock the test moves. */
describe.each(backends())('gateway instance rules on $name', (backend) => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await backend.open();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await database.close();
  });

  const heartbeatOf = async (id: string) =>
    (await database.db.selectFrom('gateway_instances').select('heartbeat_at').where('id', '=', id).executeTakeFirstOrThrow())
      .heartbeat_at;
  /** Moves the row's heartbeat back, so the next beat visibly moves it forward. */
  const ageHeartbeat = (id: string) =>
    database.db
      .updateTable('gateway_instances')
      .set({ heartbeat_at: new Date('2020-01-01T00:00:00Z') })
      .where('id', '=', id)
      .execute();

  it('beats on its timer every sixth of the silence, and beats again after a beat has finished', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const instance = await GatewayInstance.register(database.db, { silenceMs: 60_000, now: () => 0 });
    expect(instance.heartbeatMs).toBe(10_000);
    await ageHeartbeat(instance.id);
    vi.advanceTimersByTime(10_000);
    await vi.waitFor(async () => expect((await heartbeatOf(instance.id)).getFullYear()).toBeGreaterThan(2020));
    // A finished beat does not stand in for the next one.
    await ageHeartbeat(instance.id);
    await instance.beat();
    expect((await heartbeatOf(instance.id)).getFullYear()).toBeGreaterThan(2020);
    await instance.stop();
  });

  it('stops once: the row is marked stopped, later beats write nothing, a second stop does nothing', async () => {
    const instance = await GatewayInstance.register(database.db, { silenceMs: 30_000, now: () => 0 });
    await instance.stop();
    const stoppedAt = await stoppedAtOf(database.db, instance.id);
    expect(stoppedAt).toBeInstanceOf(Date);
    await ageHeartbeat(instance.id);
    await instance.beat();
    expect((await heartbeatOf(instance.id)).getFullYear()).toBe(2020);
    await database.db.updateTable('gateway_instances').set({ stopped_at: null }).where('id', '=', instance.id).execute();
    await instance.stop();
    expect(await stoppedAtOf(database.db, instance.id)).toBeNull();
  });

  it('declared dead by another: registers again, logs why, and tells each listener still listening', async () => {
    const { logger, logged } = recordingLogger();
    const instance = await GatewayInstance.register(database.db, { silenceMs: 30_000, now: () => 0, logger });
    const heard: string[] = [];
    instance.onDeclaredDead(() => heard.push('kept'));
    const unsubscribe = instance.onDeclaredDead(() => heard.push('gone'));
    unsubscribe();
    await database.db.updateTable('gateway_instances').set({ stopped_at: new Date() }).where('id', '=', instance.id).execute();
    await instance.beat();
    expect(heard).toEqual(['kept']);
    expect(await stoppedAtOf(database.db, instance.id)).toBeNull();
    expect(logged()).toEqual([
      {
        level: 50,
        instance: instance.id,
        msg: 'this instance was declared dead by another after a silence: its credit leases were released; registered again',
      },
    ]);
    // Alive again: the next beat finds its row and tells nobody.
    await instance.beat();
    expect(heard).toEqual(['kept']);
    await instance.stop();
  });

  it('a heartbeat that fails is logged and retried; a stop that cannot be written is logged', async () => {
    const { logger, logged } = recordingLogger();
    const scratch = await backend.open();
    const instance = await GatewayInstance.register(scratch.db, { silenceMs: 30_000, now: () => 0, logger });
    await scratch.close();
    await instance.beat();
    await instance.stop();
    expect(logged().map(({ err, ...line }) => [line, typeof err])).toEqual([
      [{ level: 40, instance: instance.id, msg: 'heartbeat failed; will retry' }, 'object'],
      [{ level: 40, msg: 'could not mark this instance stopped; the others will find it silent' }, 'object'],
    ]);
  });

  it('steady since the last beat that came after a fence-length gap, and not reset by a beat exactly a fence apart', async () => {
    let clock = 0;
    const instance = await GatewayInstance.register(database.db, { silenceMs: 30_000, now: () => clock });
    // silence 30 s, heartbeat 5 s: fenced past 20 s without a beat.
    clock = 20_000;
    await instance.beat();
    clock = 25_000;
    expect(instance.steadyForMs).toBe(25_000);
    await instance.beat();
    clock = 26_000;
    expect(instance.steadyForMs).toBe(26_000);
    clock = 45_001;
    await instance.beat();
    clock = 46_000;
    expect(instance.steadyForMs).toBe(999);
    await instance.stop();
  });

  it("keeps time by the process's monotonic clock when given none", async () => {
    const before = performance.now();
    const instance = await GatewayInstance.register(database.db, { silenceMs: 30_000 });
    const steady = instance.steadyForMs;
    const elapsed = performance.now() - before;
    expect(instance.fenced).toBe(false);
    expect(steady).toBeGreaterThanOrEqual(0);
    expect(steady).toBeLessThanOrEqual(elapsed);
    await instance.stop();
  });
});
