import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { ConsoleSessionsTable } from '../db/schema.js';
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
  /** The most live sessions kept; past it the one closest to expiring is dropped. */
  maxSessions?: number;
  now?: () => number;
}

const DEFAULT_MAX_SESSIONS = 10_000;
/** The defaults of TOLLGATE_CONSOLE_SESSION_IDLE_MINUTES and TOLLGATE_CONSOLE_SESSION_MAX_HOURS. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60_000;
export const DEFAULT_SESSION_MAX_AGE_MS = 12 * 3_600_000;

/**
 * The console's server-side sessions, in the database (`console_sessions`): every gateway process behind one
 * address knows a session whichever of them signed it in (`serve --workers N`, several instances), and a
 * restart signs nobody out. The browser holds only a random token (in an HttpOnly cookie); the table keeps
 * what it stands for, keyed by the token's SHA-256 so a dump of it yields no usable cookie. The API key a
 * person signed in with is never kept, here or in the browser: only its id, which the console routes re-check
 * on every request (a revoked key ends its sessions at once). Bounded: at most `maxSessions` live ones.
 */
export class ConsoleSessions {
  private readonly now: () => number;
  private readonly maxSessions: number;

  constructor(
    private readonly db: Db,
    private readonly options: ConsoleSessionOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  /** Starts a session; returns the token for the cookie (shown nowhere else) and the session. */
  async create(identity: ConsoleIdentity): Promise<{ token: string; session: ConsoleSession }> {
    const now = this.now();
    await this.sweep(now);
    const token = randomBytes(32).toString('base64url');
    const session: ConsoleSession = {
      ...identity,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      idleExpiresAt: Math.min(now + this.options.idleMs, now + this.options.maxAgeMs),
      expiresAt: now + this.options.maxAgeMs,
    };
    await this.db
      .insertInto('console_sessions')
      .values({
        token_hash: digest(token),
        role: identity.role,
        key_id: identity.keyId,
        key_prefix: identity.keyPrefix,
        account_id: identity.role === 'customer' ? identity.accountId : null,
        csrf_token: session.csrfToken,
        created_at: new Date(session.createdAt),
        idle_expires_at: new Date(session.idleExpiresAt),
        expires_at: new Date(session.expiresAt),
      })
      .execute();
    return { token, session };
  }

  /** The live session of `token`, its idle deadline moved on; undefined when unknown or expired (and then gone). */
  async touch(token: string): Promise<ConsoleSession | undefined> {
    const hash = digest(token);
    const now = new Date(this.now());
    const row = await this.db
      .updateTable('console_sessions')
      .set((eb) => ({
        idle_expires_at: eb.fn<Date>('least', [eb.val(new Date(now.getTime() + this.options.idleMs)), eb.ref('expires_at')]),
      }))
      .where('token_hash', '=', hash)
      .where('idle_expires_at', '>', now)
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      await this.db.deleteFrom('console_sessions').where('token_hash', '=', hash).execute();
      return undefined;
    }
    return fromRow(row);
  }

  /** Ends the session of `token`; false when there was none. */
  async end(token: string): Promise<boolean> {
    const result = await this.db.deleteFrom('console_sessions').where('token_hash', '=', digest(token)).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** Forgets ended sessions, and makes room for one more by dropping those closest to their end. */
  private async sweep(now: number): Promise<void> {
    const at = new Date(now);
    await this.db
      .deleteFrom('console_sessions')
      .where((eb) => eb.or([eb('idle_expires_at', '<=', at), eb('expires_at', '<=', at)]))
      .execute();
    const { live } = await this.db
      .selectFrom('console_sessions')
      .select((eb) => eb.fn.countAll<string>().as('live'))
      .executeTakeFirstOrThrow();
    const excess = Number(live) - this.maxSessions + 1;
    if (excess <= 0) return;
    const soonest = this.db
      .selectFrom('console_sessions')
      .select('token_hash')
      .orderBy('idle_expires_at')
      .orderBy('token_hash')
      .limit(excess);
    await this.db.deleteFrom('console_sessions').where('token_hash', 'in', soonest).execute();
  }
}

function fromRow(row: Selectable<ConsoleSessionsTable>): ConsoleSession {
  const times = {
    csrfToken: row.csrf_token,
    createdAt: row.created_at.getTime(),
    idleExpiresAt: row.idle_expires_at.getTime(),
    expiresAt: row.expires_at.getTime(),
  };
  if (row.role === 'customer' && row.account_id !== null && row.key_id !== null && row.key_prefix !== null) {
    return { role: 'customer', keyId: row.key_id, keyPrefix: row.key_prefix, accountId: row.account_id, ...times };
  }
  return { role: 'admin', keyId: row.key_id, keyPrefix: row.key_prefix, ...times };
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
