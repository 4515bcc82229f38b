import { describe, expect, it } from 'vitest';
import { ConsoleSessions, csrfTokenMatches } from './console-sessions.js';

const admin = { role: 'admin' as const, keyId: 'key_1', keyPrefix: 'tg_abc' };

describe('console sessions', () => {
  it('ends a session left idle, and moves the idle deadline on with each use', () => {
    let now = 1_000_000;
    const sessions = new ConsoleSessions({ idleMs: 60_000, maxAgeMs: 3_600_000, now: () => now });
    const { token } = sessions.create(admin);
    now += 59_999;
    expect(sessions.touch(token)?.role).toBe('admin');
    now += 59_999; // idle just under a minute since the last use: still alive
    expect(sessions.touch(token)).toBeDefined();
    now += 60_000;
    expect(sessions.touch(token)).toBeUndefined();
    // Gone for good, even if asked again.
    expect(sessions.touch(token)).toBeUndefined();
  });

  it('ends a session at its maximum age however active it is', () => {
    let now = 0;
    const sessions = new ConsoleSessions({ idleMs: 60_000, maxAgeMs: 150_000, now: () => now });
    const { token, session } = sessions.create(admin);
    expect(session.expiresAt).toBe(150_000);
    for (now = 50_000; now < 150_000; now += 50_000) expect(sessions.touch(token)).toBeDefined();
    expect(now).toBe(150_000);
    expect(sessions.touch(token)).toBeUndefined();
  });

  it('gives every session its own random token and CSRF token, and forgets a signed-out one', () => {
    const sessions = new ConsoleSessions({ idleMs: 60_000, maxAgeMs: 3_600_000 });
    const first = sessions.create(admin);
    const second = sessions.create({ role: 'customer', keyId: 'key_2', keyPrefix: 'tg_def', accountId: 'acct_1' });
    expect(first.token).not.toBe(second.token);
    expect(first.session.csrfToken).not.toBe(second.session.csrfToken);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrfTokenMatches(first.session, first.session.csrfToken)).toBe(true);
    expect(csrfTokenMatches(first.session, second.session.csrfToken)).toBe(false);
    expect(csrfTokenMatches(first.session, undefined)).toBe(false);
    expect(csrfTokenMatches(first.session, `${first.session.csrfToken}x`)).toBe(false);
    expect(sessions.end(first.token)).toBe(true);
    expect(sessions.touch(first.token)).toBeUndefined();
    expect(sessions.touch(second.token)?.role).toBe('customer');
  });

  it('keeps at most maxSessions, dropping the one closest to its end', () => {
    let now = 0;
    const sessions = new ConsoleSessions({ idleMs: 60_000, maxAgeMs: 3_600_000, maxSessions: 2, now: () => now });
    const oldest = sessions.create(admin);
    now = 10_000;
    const middle = sessions.create(admin);
    now = 20_000;
    const newest = sessions.create(admin);
    expect(sessions.touch(oldest.token)).toBeUndefined();
    expect(sessions.touch(middle.token)).toBeDefined();
    expect(sessions.touch(newest.token)).toBeDefined();
  });
});
