import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyIdentity } from './auth.js';

/** Who a console session speaks for: an operator (admin key) or one customer account (its user key). */
export type ConsoleIdentity = KeyIdentity;

export type ConsoleSession = ConsoleIdentity & {
  /** Sent back by the console in `x-tollgate-csrf` on every request that changes something. */
  csrfToken: string;
  createdAt: number;
  /** The session ends at the first of these: idle too long, or too old whatever its activity. */
  idleExpiresAt: number;
  expiresAt: number;
};

export interface ConsoleSessionOptions {
  /** A session unused this long ends (each request moves it on). */
  idleMs: number;
  /** A session ends this long after sign-in, however active. */
  maxAgeMs: number;
  /** The most sessions kept; past it the one closest to expiring is dropped. */
  maxSessions?: number;
  now?: () => number;
}

const DEFAULT_MAX_SESSIONS = 10_000;
/** The defaults of TOLLGATE_CONSOLE_SESSION_IDLE_MINUTES and TOLLGATE_CONSOLE_SESSION_MAX_HOURS. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60_000;
export const DEFAULT_SESSION_MAX_AGE_MS = 12 * 3_600_000;

/**
 * The console's server-side sessions. The browser holds only a random token (in an HttpOnly cookie); this
 * store keeps what it stands for, keyed by the token's SHA-256 so a memory dump yields no usable cookie.
 * The API key a person signed in with is never kept, here or in the browser: only its id, which the
 * console routes re-check on every request (a revoked key ends its sessions at once).
 *
 * Sessions live in this process's memory: a restart signs everyone out, and with several instances behind
 * one address the console needs sticky routing (README, Console). Bounded: at most `maxSessions`.
 */
export class ConsoleSessions {
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly now: () => number;
  private readonly maxSessions: number;

  constructor(private readonly options: ConsoleSessionOptions) {
    this.now = options.now ?? Date.now;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  /** Starts a session; returns the token for the cookie (shown nowhere else) and the session. */
  create(identity: ConsoleIdentity): { token: string; session: ConsoleSession } {
    this.sweep();
    if (this.sessions.size >= this.maxSessions) this.dropSoonestExpiring();
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const session: ConsoleSession = {
      ...identity,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      idleExpiresAt: now + this.options.idleMs,
      expiresAt: now + this.options.maxAgeMs,
    };
    this.sessions.set(digest(token), session);
    return { token, session };
  }

  /** The live session of `token`, its idle deadline moved on; undefined when unknown or expired. */
  touch(token: string): ConsoleSession | undefined {
    const key = digest(token);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    const now = this.now();
    if (now >= session.idleExpiresAt || now >= session.expiresAt) {
      this.sessions.delete(key);
      return undefined;
    }
    session.idleExpiresAt = Math.min(now + this.options.idleMs, session.expiresAt);
    return session;
  }

  end(token: string): boolean {
    return this.sessions.delete(digest(token));
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, session] of this.sessions) {
      if (now >= session.idleExpiresAt || now >= session.expiresAt) this.sessions.delete(key);
    }
  }

  private dropSoonestExpiring(): void {
    let soonest: [string, number] | undefined;
    for (const [key, session] of this.sessions) {
      const ends = Math.min(session.idleExpiresAt, session.expiresAt);
      if (!soonest || ends < soonest[1]) soonest = [key, ends];
    }
    if (soonest) this.sessions.delete(soonest[0]);
  }
}

/** Compares a presented CSRF token with the session's in constant time. */
export function csrfTokenMatches(session: ConsoleSession, presented: string | undefined): boolean {
  if (!presented) return false;
  const expected = Buffer.from(session.csrfToken);
  const given = Buffer.from(presented);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
