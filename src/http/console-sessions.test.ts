import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { Decimal } from '../money/decimal.js';
import { Ledger } from '../ledger/ledger.js';
import { ConsoleSessions, csrfTokenMatches } from './console-sessions.js';

const admin = { role: 'admin' as const, keyId: null, keyPrefix: null };

describe.each(backends())('console sessions on $name', (backend) => {
  let database: TestDatabase;
  let customer: { role: 'customer'; keyId: string; keyPrefix: string; accountId: string };

  beforeAll(async () => {
    database = await backend.open();
    const ledger = new Ledger(database.db);
    const { account, apiKey } = await ledger.createAccount({ name: 'sessions', mode: 'consumption_usd', credits: Decimal.parse('1') });
    customer = { role: 'customer', keyId: apiKey.id, keyPrefix: apiKey.prefix, accountId: account.id };
  });
  afterAll(async () => {
    await database.close();
  });
  beforeEach(async () => {
    await database.db.deleteFrom('console_sessions').execute();
  });

  it('ends a session left idle, and moves the idle deadline on with each use', async () => {
    let now = 1_000_000;
    const sessions = new ConsoleSessions(database.db, { idleMs: 60_000, maxAgeMs: 3_600_000, now: () => now });
    const { token } = await sessions.create(admin);
    now += 59_999;
    expect((await sessions.touch(token))?.role).toBe('admin');
    now += 59_999; // idle just under a minute since the last use: still alive
    expect(await sessions.touch(token)).toBeDefined();
    now += 60_000;
    expect(await sessions.touch(token)).toBeUndefined();
    // Gone for good, even if asked again, and no longer in the table.
    expect(await sessions.touch(token)).toBeUndefined();
    expect(await database.db.selectFrom('console_sessions').selectAll().execute()).toEqual([]);
  });

  it('ends a session at its maximum age however active it is', async () => {
    let now = 0;
    const sessions = new ConsoleSessions(database.db, { idleMs: 60_000, maxAgeMs: 150_000, now: () => now });
    const { token, session } = await sessions.create(admin);
    expect(session.expiresAt).toBe(150_000);
    for (now = 50_000; now < 150_000; now += 50_000) expect(await sessions.touch(token)).toBeDefined();
    expect(now).toBe(150_000);
    expect(await sessions.touch(token)).toBeUndefined();
  });

  it('gives every session its own random token and CSRF token, and forgets a signed-out one', async () => {
    const sessions = new ConsoleSessions(database.db, { idleMs: 60_000, maxAgeMs: 3_600_000 });
    const first = await sessions.create(admin);
    const second = await sessions.create(customer);
    expect(first.token).not.toBe(second.token);
    expect(first.session.csrfToken).not.toBe(second.session.csrfToken);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrfTokenMatches(first.session, first.session.csrfToken)).toBe(true);
    expect(csrfTokenMatches(first.session, second.session.csrfToken)).toBe(false);
    expect(csrfTokenMatches(first.session, undefined)).toBe(false);
    expect(csrfTokenMatches(first.session, `${first.session.csrfToken}x`)).toBe(false);
    expect(await sessions.end(first.token)).toBe(true);
    expect(await sessions.end(first.token)).toBe(false);
    expect(await sessions.touch(first.token)).toBeUndefined();
    expect(await sessions.touch(second.token)).toMatchObject({ ...customer, csrfToken: second.session.csrfToken });
  });

  it('keeps no token: the table holds only its digest', async () => {
    const sessions = new ConsoleSessions(database.db, { idleMs: 60_000, maxAgeMs: 3_600_000 });
    const { token } = await sessions.create(customer);
    const rows = await database.db.selectFrom('console_sessions').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is known to every process on the database: a session signed in by one store is live in another', async () => {
    const signer = new ConsoleSessions(database.db, { idleMs: 60_000, maxAgeMs: 3_600_000 });
    const other = new ConsoleSessions(database.db, { idleMs: 60_000, maxAgeMs: 3_600_000 });
    const { token, session } = await signer.create(customer);
    expect((await other.touch(token))?.csrfToken).toBe(session.csrfToken);
    expect(await other.end(token)).toBe(true);
    expect(await signer.touch(token)).toBeUndefined();
  });

  it('keeps at most maxSessions, dropping the one closest to its end', async () => {
    let now = 0;
    const sessions = new ConsoleSessions(database.db, { idleMs: 60_000, maxAgeMs: 3_600_000, maxSessions: 2, now: () => now });
    const oldest = await sessions.create(admin);
    now = 10_000;
    const middle = await sessions.create(admin);
    now = 20_000;
    const newest = await sessions.create(admin);
    expect(await sessions.touch(oldest.token)).toBeUndefined();
    expect(await sessions.touch(middle.token)).toBeDefined();
    expect(await sessions.touch(newest.token)).toBeDefined();
  });
});
