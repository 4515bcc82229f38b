import Fastify, { type FastifyInstance } from 'fastify';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ledger } from '../ledger/ledger.js';
import type { ConsoleAccess } from './console-access.js';
import { registerConsoleRoutes } from './console-routes.js';

/** The console's files as `tollgate serve` hands them out; its session routes are tested in test/console-api.test.ts. */
describe('console static files', () => {
  const build = mkdtempSync(path.join(tmpdir(), 'tollgate-console-build-'));
  let app: FastifyInstance;
  // Only the file routes run here: the session routes these stand behind are not called.
  const unused = { access: {} as ConsoleAccess, ledger: {} as Ledger };

  beforeAll(async () => {
    mkdirSync(path.join(build, 'assets'));
    writeFileSync(path.join(build, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(path.join(build, 'assets', 'index-abc123.js'), 'console.log(1)');
    app = Fastify();
    await registerConsoleRoutes(app, { ...unused, buildDirectory: build });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    rmSync(build, { recursive: true, force: true });
  });

  it('serves the app with a strict content security policy and no framing', async () => {
    const page = await app.inject({ method: 'GET', url: '/console/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect((await app.inject({ method: 'GET', url: '/console' })).headers.location).toBe('/console/');
  });

  it('caches hashed assets for good, and serves a file added after start', async () => {
    const asset = await app.inject({ method: 'GET', url: '/console/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    writeFileSync(path.join(build, 'assets', 'index-def456.js'), 'console.log(2)');
    expect((await app.inject({ method: 'GET', url: '/console/assets/index-def456.js' })).body).toBe('console.log(2)');
  });

  it("answers the console's own page paths with the app, and a missing file with 404", async () => {
    const page = await app.inject({ method: 'GET', url: '/console/accounts/acct_123?tab=keys' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<div id="root">');
    expect(page.headers['content-security-policy']).toBeDefined();
    for (const missing of ['/console/assets/index-old.js', '/console/favicon.ico', '/console/api/nothing']) {
      const response = await app.inject({ method: 'GET', url: missing });
      expect(response.statusCode, missing).toBe(404);
      expect(response.json().error.code).toBe('not_found');
    }
    expect((await app.inject({ method: 'POST', url: '/console/accounts' })).statusCode).toBe(404);
  });

  it('says how to build the console when it is not built', async () => {
    const bare = Fastify();
    await registerConsoleRoutes(bare, { ...unused, buildDirectory: path.join(build, 'missing') });
    const response = await bare.inject({ method: 'GET', url: '/console/' });
    expect(response.statusCode).toBe(503);
    expect(response.body).toContain('npm run build:console');
    await bare.close();
  });
});
