import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorBody, GatewayError } from '../gateway/errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ConsoleAccess } from './console-access.js';
import type { ConsoleSession } from './console-sessions.js';

/** Where `npm ci` (the `prepare` script) builds the console: `console/dist`, from src/http or dist/http alike. */
export const CONSOLE_BUILD_DIRECTORY = fileURLToPath(new URL('../../console/dist', import.meta.url));

/**
 * Pages may load only this origin's scripts, styles and data; nothing may frame them (clickjacking of the
 * grant and revoke buttons). The build emits no inline script, so none is allowed.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const tags = ['console'];

const sessionSchema = {
  type: 'object',
  properties: {
    role: { type: 'string', enum: ['admin', 'customer'] },
    account: {
      anyOf: [{ type: 'null' }, { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } }],
    },
    key_prefix: { type: ['string', 'null'], description: 'the prefix of the key signed in with; null for TOLLGATE_ADMIN_KEY' },
    csrf_token: { type: 'string', description: 'send it in x-tollgate-csrf on every request that changes something' },
    expires_at: { type: 'string', format: 'date-time' },
    idle_expires_at: { type: 'string', format: 'date-time' },
  },
} as const;

/**
 * The console: its session routes (`/console/api/session`) and its built files, served at `/console` as
 * static files by this same server (no second server to run). A GET of a path under /console that is no
 * file is one of the console's own pages (it routes in the browser), so it gets index.html.
 */
export async function registerConsoleRoutes(
  app: FastifyInstance,
  services: { access: ConsoleAccess; ledger: Ledger; buildDirectory?: string | undefined },
): Promise<void> {
  const { access, ledger } = services;
  const buildDirectory = services.buildDirectory ?? CONSOLE_BUILD_DIRECTORY;

  const sessionJson = async (session: ConsoleSession) => ({
    role: session.role,
    account:
      session.role === 'customer'
        ? await ledger.getAccount(session.accountId).then((account) => ({ id: account.id, name: account.name }))
        : null,
    key_prefix: session.keyPrefix,
    csrf_token: session.csrfToken,
    expires_at: new Date(session.expiresAt).toISOString(),
    idle_expires_at: new Date(session.idleExpiresAt).toISOString(),
  });

  app.post<{ Body: { key: string } }>(
    '/console/api/session',
    {
      schema: {
        tags,
        summary: "Sign in to the console with an admin key or an account's API key: sets an HttpOnly session cookie",
        description:
          'The key is checked and forgotten: the session keeps the key id only, and the browser only a random token ' +
          '(cookie HttpOnly, SameSite=Strict). A user key signs in to its own account, read-only.',
        body: {
          type: 'object',
          required: ['key'],
          additionalProperties: false,
          properties: { key: { type: 'string', minLength: 1, maxLength: 200 } },
        },
        response: { 200: sessionSchema },
      },
    },
    async (request, reply) => sessionJson(await access.signIn(request, reply, request.body.key)),
  );

  app.get(
    '/console/api/session',
    { schema: { tags, summary: 'The console session of this browser, with its CSRF token', response: { 200: sessionSchema } } },
    async (request) => {
      const session = await access.session(request);
      if (!session) throw new GatewayError('missing_api_key', 'not signed in to the console');
      return sessionJson(session);
    },
  );

  app.delete(
    '/console/api/session',
    { schema: { tags, summary: 'Sign out: ends the session and clears its cookie' } },
    async (request, reply) => {
      // A sign-out is a change: it needs the CSRF token like any other, so another site cannot sign a person out.
      await access.session(request).catch((error: unknown) => {
        if (error instanceof GatewayError && error.code === 'invalid_api_key') return undefined;
        throw error;
      });
      await access.signOut(request, reply);
      return { signed_out: true };
    },
  );

  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/', 302));

  if (!existsSync(buildDirectory)) {
    app.get('/console/*', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The console is not built: run "npm run build:console" (npm ci builds it through the prepare script).\n'),
    );
    return;
  }

  await app.register(
    async (scope) => {
      await scope.register(fastifyStatic, {
        root: buildDirectory,
        prefix: '/',
        // Each request looks for its file, so a console rebuilt while the gateway runs is served at once.
        wildcard: true,
        index: 'index.html',
        schemaHide: true,
        setHeaders: (reply, path) => {
          securityHeaders(reply);
          // Vite names every asset by its content hash: a new build gets new names, so they never go stale.
          void reply.header('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
        },
      });
      scope.setNotFoundHandler((request, reply) => {
        const path = request.url.split('?')[0]!.slice('/console/'.length);
        // An asset or an API path that does not exist is a 404, not the app (a stale tab asking for an old chunk).
        if (request.method !== 'GET' || path.startsWith('assets/') || path.startsWith('api/') || /\.[a-z0-9]+$/i.test(path)) {
          return reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
        }
        return reply.sendFile('index.html');
      });
    },
    { prefix: '/console' },
  );
}

function securityHeaders(reply: FastifyReply): void {
  void reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer');
}
