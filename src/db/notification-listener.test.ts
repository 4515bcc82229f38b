import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBackend, type TestDatabase } from '../../test/support/backends.js';
import { DatabaseHealth } from './database-health.js';
import { NotificationListener } from './notification-listener.js';

/** Resolves with the next value `push` receives. */
function inbox<T>() {
  const waiting: Array<(value: T) => void> = [];
  const queued: T[] = [];
  return {
    push(value: T) {
      const next = waiting.shift();
      if (next) next(value);
      else queued.push(value);
    },
    next(): Promise<T> {
      return queued.length > 0 ? Promise.resolve(queued.shift()!) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

const backend = postgresBackend();

describe.skipIf(!backend)('notification listener on PostgreSQL (needs TEST_DATABASE_URL)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await backend!.open();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('reconnects after its connection is terminated, listens again, and reports the gap', async () => {
    const messages = inbox<string>();
    const gaps = inbox<'gap'>();
    const states: boolean[] = [];
    const listener = new NotificationListener(database.url!, {
      reconnectMinMs: 10,
      onState: (connected) => states.push(connected),
    });
    await listener.subscribe('tollgate_test_channel', { onMessage: messages.push, onGap: () => gaps.push('gap') });
    const notifier = new pg.Client({ connectionString: database.url });
    await notifier.connect();
    try {
      await notifier.query(`select pg_notify('tollgate_test_channel', 'before')`);
      expect(await messages.next()).toBe('before');
      await notifier.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen%'`,
      );
      expect(await gaps.next()).toBe('gap');
      expect(listener.connected).toBe(true);
      expect(states).toContain(false);
      await notifier.query(`select pg_notify('tollgate_test_channel', 'after')`);
      expect(await messages.next()).toBe('after');
    } finally {
      await notifier.end();
      await listener.close();
    }
  });
});

describe('database health', () => {
  it('marks the database unreachable on a connection error only, probes until it answers, and tells listeners', async () => {
    let failures = 2;
    const probes: number[] = [];
    const health = new DatabaseHealth(
      async () => {
        probes.push(probes.length);
        if (failures-- > 0) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      },
      { probeMinMs: 1, probeMaxMs: 4 },
    );
    const changes = inbox<boolean>();
    health.onChange(changes.push);
    health.observe(Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }));
    expect(health.isReachable).toBe(true);
    health.observe(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }));
    expect(health.isReachable).toBe(false);
    expect(health.checks().database).toEqual({
      ok: false,
      detail: 'unreachable: 57P01: terminating connection due to administrator command',
    });
    expect(await changes.next()).toBe(false);
    expect(await changes.next()).toBe(true);
    expect(health.isReachable).toBe(true);
    expect(probes).toEqual([0, 1, 2]);
    health.close();
  });
});
