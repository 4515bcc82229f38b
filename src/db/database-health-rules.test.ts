import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { fakeRetryTimeouts, restoreRetryTimeouts } from '../../test/support/retry-waits.js';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.js';
import { nextTurn, untilNextTurns } from '../../test/support/wait.js';
import { DatabaseUnavailableError } from './database-errors.js';
import { DatabaseHealth } from './database-health.js';
import { openDatabase, type Database } from './database.js';

const adminUrl = process.env.TEST_DATABASE_URL;
const UNREACHABLE = 'database unreachable: calls that need it answer 503 until it is back';
const BACK = 'database reachable again';

/**
 * How the gateway learns that PostgreSQL is gone and that it is back (`DatabaseHealth`, as `openDatabase` wires
 * it): real connections through a loopback proxy that a test cuts and restores, as a database restart looks
 * from the gateway, and the probe's waits read from a faked setTimeout.
 */
describe.skipIf(!adminUrl)('database health rules (needs TEST_DATABASE_URL)', () => {
  let proxy: TcpProxy;
  const opened: Database[] = [];
  beforeAll(async () => {
    const target = new URL(adminUrl!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  });
  afterEach(async () => {
    restoreRetryTimeouts();
    await proxy.restore();
    for (const database of opened.splice(0)) await database.close();
  });
  afterAll(async () => {
    await proxy.close();
  });

  const proxiedUrl = () => {
    const url = new URL(adminUrl!);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    return url.toString();
  };
  const open = async () => {
    const { logger, logged } = recordingLogger();
    const database = await openDatabase({ kind: 'postgres', url: proxiedUrl() }, { logger });
    opened.push(database);
    return { database, logged };
  };
  const refused = expect.stringMatching(/^ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);

  it('a lost connection marks it unreachable at once; probes 100 ms doubling to 1 s find it back', async () => {
    const { database, logged } = await open();
    const { health } = database;
    const heard: boolean[] = [];
    health.onChange((reachable) => heard.push(reachable));
    await sql`select 1`.execute(database.db);
    expect(health.isReachable).toBe(true);
    expect(health.checks()).toEqual({ database: { ok: true }, notifications: { ok: true } });

    const wait = fakeRetryTimeouts({ from: 'database-health.ts' });
    const before = Date.now();
    // The pool's idle connection is cut, as a database restart cuts it: the pool's error is the signal.
    await proxy.cut();
    await untilNextTurns(() => !health.isReachable, 'the lost connection seen');
    expect(heard).toEqual([false]);
    expect(health.unreachableReason).toBe('Connection terminated unexpectedly');
    expect(health.checks()).toEqual({
      database: { ok: false, detail: 'unreachable: Connection terminated unexpectedly' },
      notifications: { ok: true },
    });
    expect(logged()).toEqual([{ level: 40, reason: 'Connection terminated unexpectedly', msg: UNREACHABLE }]);
    // A query refused meanwhile (the gateway's error handler shows it to the health) only updates the reason.
    const refusal = await sql`select 1`.execute(database.db).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ code: 'ECONNREFUSED' });
    health.observe(refusal);
    expect(health.unreachableReason).toEqual(refused);
    expect(heard).toEqual([false]);
    expect(logged()).toHaveLength(1);

    // Probes fail while the proxy refuses; each one waits twice as long as the one before, up to 1 s.
    const waits: number[] = [];
    for (let n = 0; n < 6; n += 1) {
      waits.push(await wait(n));
      vi.advanceTimersByTime(waits[n]!);
    }
    await wait(6);
    expect(waits).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(health.isReachable).toBe(false);
    expect(heard).toEqual([false]);

    await proxy.restore();
    vi.advanceTimersByTime(1_000);
    await untilNextTurns(() => health.isReachable, 'the probe finding the database back');
    const after = Date.now();
    expect(heard).toEqual([false, true]);
    expect(health.unreachableReason).toBeUndefined();
    expect(health.checks()).toEqual({ database: { ok: true }, notifications: { ok: true } });
    const lines = logged();
    expect(lines).toEqual([lines[0], { level: 30, downMs: expect.any(Number), msg: BACK }]);
    const { downMs } = lines[1] as { downMs: number };
    expect(downMs).toBeGreaterThanOrEqual(0);
    expect(downMs).toBeLessThanOrEqual(after - before);
    await expect(sql`select 1`.execute(database.db)).resolves.toBeDefined();
  });

  it("a query's own error (not a lost connection) leaves it reachable, silently", async () => {
    const { database, logged } = await open();
    const heard: boolean[] = [];
    database.health.onChange((reachable) => heard.push(reachable));
    await expect(sql`select * from no_such_table`.execute(database.db)).rejects.toMatchObject({ code: '42P01' });
    database.health.observe(new Error('deadlock detected'));
    expect(database.health.isReachable).toBe(true);
    expect(database.health.unreachableReason).toBeUndefined();
    expect(heard).toEqual([]);
    expect(logged()).toEqual([]);
  });

  it('while it is down, another failure only updates the reason: one warning, one change, one probe at a time', async () => {
    const wait = fakeRetryTimeouts({ from: 'database-health.ts' });
    const { logger, logged } = recordingLogger();
    let probes = 0;
    const health = new DatabaseHealth(
      async () => {
        probes += 1;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      },
      { logger, probeMinMs: 30, probeMaxMs: 70 },
    );
    const heard: boolean[] = [];
    health.onChange((reachable) => heard.push(reachable));
    health.markUnreachable('first');
    health.observe(Object.assign(new Error('Connection terminated unexpectedly'), {}));
    expect(health.unreachableReason).toBe('Connection terminated unexpectedly');
    // The gateway's own refusal of a call meanwhile (DatabaseUnavailableError) is not a new reason.
    health.observe(new DatabaseUnavailableError('no capture could be kept'));
    expect(health.unreachableReason).toBe('Connection terminated unexpectedly');
    health.markUnreachable('third');
    expect(health.unreachableReason).toBe('third');
    expect(heard).toEqual([false]);
    expect(logged()).toEqual([{ level: 40, reason: 'first', msg: UNREACHABLE }]);

    const waits: number[] = [];
    for (let n = 0; n < 4; n += 1) {
      waits.push(await wait(n));
      vi.advanceTimersByTime(waits[n]!);
      await untilNextTurns(() => probes === n + 1, `probe ${n + 1}`);
    }
    expect(waits).toEqual([30, 60, 70, 70]);
    // The probe's own failure is the reason now, with its code.
    await wait(4);
    expect(health.unreachableReason).toBe('ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1');
    health.close();
    await nextTurn();
    expect(probes).toBe(4);
  });

  it('close stops the probe mid-wait, and nothing marks a closed health unreachable', async () => {
    const wait = fakeRetryTimeouts({ from: 'database-health.ts' });
    let probes = 0;
    const { logger, logged } = recordingLogger();
    const health = new DatabaseHealth(
      async () => {
        probes += 1;
      },
      { logger },
    );
    health.markUnreachable('down');
    expect(await wait(0)).toBe(100);
    health.close();
    await nextTurn();
    await nextTurn();
    expect(probes).toBe(0);
    expect(health.isReachable).toBe(false);
    expect(logged()).toEqual([{ level: 40, reason: 'down', msg: UNREACHABLE }]);

    const closed = new DatabaseHealth(async () => undefined, { logger });
    closed.close();
    closed.markUnreachable('after close');
    expect(closed.isReachable).toBe(true);
    expect(closed.unreachableReason).toBeUndefined();
    expect(logged()).toHaveLength(1);
  });

  it('a listener that throws is logged and the others still hear; an unsubscribed one hears nothing more', async () => {
    const wait = fakeRetryTimeouts({ from: 'database-health.ts' });
    const { logger, logged } = recordingLogger();
    let up = false;
    const health = new DatabaseHealth(
      async () => {
        if (!up) throw new Error('not yet');
      },
      { logger },
    );
    const first: boolean[] = [];
    const last: boolean[] = [];
    const gone: boolean[] = [];
    health.onChange((reachable) => first.push(reachable));
    health.onChange(() => {
      throw new Error('listener broke');
    });
    const unsubscribe = health.onChange((reachable) => gone.push(reachable));
    health.onChange((reachable) => last.push(reachable));
    health.markUnreachable('down');
    unsubscribe();
    up = true;
    vi.advanceTimersByTime(await wait(0));
    await untilNextTurns(() => health.isReachable, 'the database back');
    expect(first).toEqual([false, true]);
    expect(last).toEqual([false, true]);
    expect(gone).toEqual([false]);
    const failed = {
      level: 50,
      err: expect.objectContaining({ message: 'listener broke' }),
      msg: 'a database health listener failed',
    };
    expect(logged()).toEqual([
      { level: 40, reason: 'down', msg: UNREACHABLE },
      failed,
      { level: 30, downMs: expect.any(Number), msg: BACK },
      failed,
    ]);
    health.close();
  });

  it('each outage is probed until it ends, counted from its start; once back, no probe is left waiting', async () => {
    const wait = fakeRetryTimeouts({ from: 'database-health.ts' });
    const { logger, logged } = recordingLogger();
    let up = false;
    let probes = 0;
    const health = new DatabaseHealth(
      async () => {
        probes += 1;
        if (!up) throw new Error('still down');
      },
      { logger },
    );
    const outage = async (waitsBefore: number) => {
      const marked = Date.now();
      health.markUnreachable('down');
      vi.advanceTimersByTime(await wait(waitsBefore));
      await untilNextTurns(() => probes === waitsBefore + 1, 'a failed probe');
      // Real time passes, so the outage's length has a floor to be checked against.
      while (Date.now() < marked + 5) await nextTurn();
      up = true;
      vi.advanceTimersByTime(await wait(waitsBefore + 1));
      await untilNextTurns(() => health.isReachable, 'the database back');
      up = false;
      expect(vi.getTimerCount()).toBe(0);
      return Date.now() - marked;
    };
    const first = await outage(0);
    const second = await outage(2);
    expect(probes).toBe(4);
    const back = logged().filter((line) => line.msg === BACK) as Array<{ downMs: number }>;
    expect(back).toHaveLength(2);
    expect(back[0]!.downMs).toBeGreaterThanOrEqual(5);
    expect(back[0]!.downMs).toBeLessThanOrEqual(first);
    expect(back[1]!.downMs).toBeGreaterThanOrEqual(5);
    expect(back[1]!.downMs).toBeLessThanOrEqual(second);
    health.close();
  });

  it('a listener that marks it unreachable again as it hears it is back leaves one probe going, its waits still growing', async () => {
    const wait = fakeRetryTimeouts({ from: 'database-health.ts' });
    let probes = 0;
    const health = new DatabaseHealth(async () => {
      probes += 1;
    });
    const heard: boolean[] = [];
    let again = true;
    health.onChange((reachable) => {
      heard.push(reachable);
      if (reachable && again) {
        again = false;
        health.markUnreachable('lost again at once');
      }
    });
    health.markUnreachable('down');
    vi.advanceTimersByTime(await wait(0));
    await untilNextTurns(() => probes === 1, 'the first probe');
    expect(heard).toEqual([false, true, false]);
    expect(health.isReachable).toBe(false);
    // The same probe goes on, with the next wait of its series; no second series starts at 100 ms.
    expect(await wait(1)).toBe(200);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(200);
    await untilNextTurns(() => health.isReachable, 'the database back');
    expect(probes).toBe(2);
    expect(heard).toEqual([false, true, false, true]);
    health.close();
  });

  it("reports the notification listener's connection beside the database's", () => {
    const health = new DatabaseHealth(async () => undefined);
    health.setNotifications({ ok: false, detail: 'reconnecting: lost' });
    expect(health.checks()).toEqual({ database: { ok: true }, notifications: { ok: false, detail: 'reconnecting: lost' } });
    health.setNotifications({ ok: true });
    expect(health.checks().notifications).toEqual({ ok: true });
    health.close();
  });

  it('describes a thrown value that is not an Error by its text, and an Error without a code by its message', async () => {
    const wait = fakeRetryTimeouts({ from: 'database-health.ts' });
    const thrown: unknown[] = ['a plain string', new Error('no code here')];
    let probes = 0;
    const health = new DatabaseHealth(async () => {
      throw thrown[probes++];
    });
    health.markUnreachable('down');
    vi.advanceTimersByTime(await wait(0));
    await wait(1);
    expect(health.unreachableReason).toBe('a plain string');
    vi.advanceTimersByTime(200);
    await wait(2);
    expect(health.unreachableReason).toBe('no code here');
    health.close();
  });
});
