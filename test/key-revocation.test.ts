import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { ACCOUNTS_CHANGED_CHANNEL } from '../src/db/channels.js';
import { silentLogger } from '../src/logging/logger.js';
import { startGateway, type Gateway } from '../src/main.js';
import { Decimal } from '../src/money/decimal.js';
import { postgresBackend, type TestDatabase } from './support/backends.js';
import { runTollgate, type CliProcessRun } from './support/cli-process.js';
import { seedTestCatalog } from './support/gateway-harness.js';
import { testJournalDirectory } from './support/journal-directory.js';

const ADMIN_KEY = 'revocation-test-admin-key';
const root = fileURLToPath(new URL('..', import.meta.url));
/** A guard against a hang (the test fails naming what never came), never a margin the test relies on. */
const NOTIFICATION_LIMIT_MS = 60_000;

/**
 * Resolves when `gateway` has heard the next account change: subscribed on the gateway's own notification
 * connection after the gateway's own handler, which runs first and drops its cached keys before this resolves.
 */
async function nextAccountChange(gateway: Gateway): Promise<() => Promise<void>> {
  let heard!: () => void;
  const arrived = new Promise<void>((resolve) => (heard = resolve));
  const unlisten = await gateway.database.listen(ACCOUNTS_CHANGED_CHANNEL, () => heard());
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no account change was announced within ${NOTIFICATION_LIMIT_MS} ms`)),
        NOTIFICATION_LIMIT_MS,
      );
    });
    try {
      await Promise.race([arrived, limit]);
    } finally {
      clearTimeout(timer);
      await unlisten();
    }
  };
}

const chat = (gateway: Gateway, key: string) =>
  gateway.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: { authorization: `Bearer ${key}` },
    payload: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 20 },
  });

/** `tollgate <args>` in a process of its own on the PostgreSQL database at `url`. */
function tollgateOn(url: string, ...args: string[]): Promise<CliProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--database-url', url, ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const postgres = postgresBackend();

/**
 * A key revoked (or expired) by one process is refused by every other running gateway on the same database at its
 * next call once the notification has arrived, not after its authentication cache (10 s) runs out.
 */
(postgres ? describe : describe.skip)('key revocation across processes on PostgreSQL (needs TEST_DATABASE_URL)', () => {
  let database: TestDatabase;
  let instanceA: Gateway;
  let instanceB: Gateway;

  beforeEach(async () => {
    database = await postgres!.open();
    await seedTestCatalog(database.db);
    const config = loadConfig({
      TOLLGATE_JOURNAL_DIR: testJournalDirectory(),
      DATABASE_URL: database.url,
      TOLLGATE_SEED_ON_START: 'false',
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_LOG_LEVEL: 'silent',
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      TOLLGATE_DEMO: 'on',
    });
    instanceA = await startGateway(config, silentLogger());
    instanceB = await startGateway(config, silentLogger());
  });

  afterEach(async () => {
    await instanceA?.close();
    await instanceB?.close();
    await database?.close();
  });

  async function servedKey(): Promise<{ key: string; prefix: string; accountId: string }> {
    const { account, apiKey } = await instanceA.ledger.createAccount({
      name: `revoked-${Math.random().toString(36).slice(2)}`,
      mode: 'consumption_usd',
      credits: Decimal.parse('1'),
    });
    // B serves a call: it now holds the key in its authentication cache.
    expect((await chat(instanceB, apiKey.key)).statusCode).toBe(200);
    return { key: apiKey.key, prefix: apiKey.prefix, accountId: account.id };
  }

  it('`tollgate keys revoke` in another process: B refuses the key at its next call', async () => {
    const { key, prefix } = await servedKey();
    const heard = await nextAccountChange(instanceB);
    const revoked = await tollgateOn(database.url!, 'keys', 'revoke', prefix);
    expect([revoked.code, revoked.stdout]).toEqual([0, `key ${prefix} revoked\n`]);
    await heard();
    const refused = await chat(instanceB, key);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe('invalid_api_key');
  });

  it("the admin route on A: B refuses the key at its next call; A's answer is already refused", async () => {
    const { key, prefix } = await servedKey();
    expect((await chat(instanceA, key)).statusCode).toBe(200);
    const heard = await nextAccountChange(instanceB);
    const revoked = await instanceA.app.inject({
      method: 'DELETE',
      url: `/admin/keys/${prefix}`,
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(revoked.json()).toEqual({ prefix, revoked: true });
    expect((await chat(instanceA, key)).statusCode).toBe(401);
    await heard();
    expect((await chat(instanceB, key)).statusCode).toBe(401);
  });

  it('`tollgate keys update --expires` in the past in another process: B answers key_expired at its next call', async () => {
    const { key, prefix } = await servedKey();
    const heard = await nextAccountChange(instanceB);
    const updated = await tollgateOn(database.url!, 'keys', 'update', prefix, '--expires', '2020-01-01T00:00:00Z');
    expect(updated.code).toBe(0);
    await heard();
    const refused = await chat(instanceB, key);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error).toMatchObject({ code: 'key_expired', expired_at: '2020-01-01T00:00:00.000Z' });
  });
});

/** On PGlite, `tollgate keys revoke` reaches the running serve through its socket, and its NOTIFY with it. */
describe('key revocation beside a running serve on PGlite', () => {
  const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-revoke-'));
  let gateway: Gateway;

  beforeAll(async () => {
    const config = loadConfig({
      TOLLGATE_DATA_DIR: dataDirectory,
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_LOG_LEVEL: 'silent',
      TOLLGATE_DEMO: 'on',
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      TOLLGATE_SEED_ON_START: 'false',
    });
    gateway = await startGateway(config, silentLogger());
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    rmSync(dataDirectory, { recursive: true, force: true });
  });

  it('the serve refuses the key at its next call', async () => {
    const { apiKey } = await gateway.ledger.createAccount({
      name: 'revoked-beside',
      mode: 'consumption_usd',
      credits: Decimal.parse('1'),
    });
    expect((await chat(gateway, apiKey.key)).statusCode).toBe(200);
    const heard = await nextAccountChange(gateway);
    const revoked = await runTollgate(dataDirectory, 'keys', 'revoke', apiKey.prefix, '--json');
    expect([revoked.code, JSON.parse(revoked.stdout)]).toEqual([0, { prefix: apiKey.prefix, revoked: true }]);
    await heard();
    expect((await chat(gateway, apiKey.key)).statusCode).toBe(401);
  });
});
