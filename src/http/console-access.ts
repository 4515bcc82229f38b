import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.js';
import { GatewayError } from '../gateway/errors.js';
import type { Authenticator } from './auth.js';
import { csrfTokenMatches, type ConsoleSession, type ConsoleSessions } from './console-sessions.js';

/** The header the console sends its session's CSRF token in, on every request that changes something. */
export const CSRF_HEADER = 'x-tollgate-csrf';
const COOKIE = 'tollgate_console';
/** Over HTTPS the cookie takes the `__Host-` prefix: the browser then refuses it unless Secure, host-only, path /. */
const SECURE_COOKIE = '__Host-tollgate_console';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * How a request reaches the admin and customer routes through the console: a session cookie instead of
 * `Authorization: Bearer`. A request that sends an Authorization header is judged by the key alone (scripts,
 * the CLI); one that sends the cookie instead is judged by its session, and when it changes something it
 * must also carry the session's CSRF token in `x-tollgate-csrf` and, if the browser names its Origin, come
 * from this host. SameSite=Strict already keeps the cookie off cross-site requests; the token makes the
 * forms safe in browsers or set-ups where that is not enough (a sibling subdomain, an old browser).
 */
export class ConsoleAccess {
  constructor(private readonly dependencies: { db: Db; authenticator: Authenticator; sessions: ConsoleSessions }) {}

  /** Signs in with an API key: the session it starts, and the cookie set on `reply`. @throws GatewayError invalid_api_key */
  async signIn(request: FastifyRequest, reply: FastifyReply, key: string): Promise<ConsoleSession> {
    checkOrigin(request);
    const identity = await this.dependencies.authenticator.identify(key.trim());
    if (!identity)
      throw new GatewayError('invalid_api_key', "invalid API key: sign in with an admin key or an account's API key");
    const { token, session } = await this.dependencies.sessions.create(identity);
    void reply.header(
      'set-cookie',
      stringifySetCookie(cookieName(request), token, {
        httpOnly: true,
        sameSite: 'strict',
        secure: isSecure(request),
        path: '/',
        maxAge: Math.max(1, Math.floor((session.expiresAt - session.createdAt) / 1000)),
      }),
    );
    return session;
  }

  /** Ends the request's session (if any) and clears its cookie. */
  async signOut(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const token = sessionToken(request);
    if (token) await this.dependencies.sessions.end(token);
    void reply.header(
      'set-cookie',
      stringifySetCookie(cookieName(request), '', {
        httpOnly: true,
        sameSite: 'strict',
        secure: isSecure(request),
        path: '/',
        maxAge: 0,
      }),
    );
  }

  /**
   * The request's console session: undefined when it sends an Authorization header or no session cookie.
   * @throws GatewayError invalid_api_key when the session is unknown or expired, or its key was revoked;
   *   forbidden when a request that changes something lacks the CSRF token or comes from another origin.
   */
  async session(request: FastifyRequest): Promise<ConsoleSession | undefined> {
    if (request.headers.authorization !== undefined) return undefined;
    const token = sessionToken(request);
    if (!token) return undefined;
    const session = await this.dependencies.sessions.touch(token);
    if (!session) throw new GatewayError('invalid_api_key', 'the console session has ended; sign in again');
    if (!(await this.keyStillLive(session))) {
      await this.dependencies.sessions.end(token);
      throw new GatewayError('invalid_api_key', 'the key this session was signed in with has been revoked; sign in again');
    }
    if (!SAFE_METHODS.has(request.method)) {
      checkOrigin(request);
      const presented = request.headers[CSRF_HEADER];
      if (!csrfTokenMatches(session, typeof presented === 'string' ? presented : undefined)) {
        throw new GatewayError('forbidden', `missing or wrong CSRF token: send the session's token in ${CSRF_HEADER}`);
      }
    }
    return session;
  }

  /**
   * For the admin scope: true when an admin session admits the request; false when the request carries no
   * session (the Bearer check follows). @throws as session(), and forbidden for a customer's session.
   */
  async admitsAdmin(request: FastifyRequest): Promise<boolean> {
    const session = await this.session(request);
    if (!session) return false;
    if (session.role !== 'admin') {
      throw new GatewayError('forbidden', "this route needs an admin; the console session is a customer account's");
    }
    return true;
  }

  /**
   * The account a customer-scoped request may read: its user key's (Bearer) or its customer session's.
   * @throws GatewayError missing_api_key, invalid_api_key, or forbidden for an admin key or session (an
   *   operator reads accounts through /admin).
   */
  async customerAccount(request: FastifyRequest): Promise<string> {
    const session = await this.session(request);
    if (session) {
      if (session.role !== 'customer') throw new GatewayError('forbidden', 'an operator reads accounts through /admin/accounts');
      return session.accountId;
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!match) throw new GatewayError('missing_api_key', 'missing API key: send it as "Authorization: Bearer <key>"');
    const identity = await this.dependencies.authenticator.identify(match[1]!);
    if (!identity) throw new GatewayError('invalid_api_key', 'invalid API key');
    if (identity.role !== 'customer') throw new GatewayError('forbidden', 'an operator reads accounts through /admin/accounts');
    return identity.accountId;
  }

  /** The configured admin key cannot be revoked (only changed with a restart); a stored key is checked each time. */
  private async keyStillLive(session: ConsoleSession): Promise<boolean> {
    if (session.keyId === null) return true;
    const row = await this.dependencies.db
      .selectFrom('api_keys')
      .select('id')
      .where('id', '=', session.keyId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row !== undefined;
  }
}

function sessionToken(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  const cookies = parseCookie(header);
  return cookies[SECURE_COOKIE] ?? cookies[COOKIE] ?? undefined;
}

function isSecure(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

function cookieName(request: FastifyRequest): string {
  return isSecure(request) ? SECURE_COOKIE : COOKIE;
}

/** A browser names the page a request came from in Origin; one from another site is refused outright. */
function checkOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host === undefined || host !== request.headers.host) {
    throw new GatewayError('forbidden', `requests from ${origin} may not use the console session`);
  }
}
