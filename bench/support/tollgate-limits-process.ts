/**
 * tollgate for `npm run bench:limits`, in its own process: like tollgate-process.ts (a scratch PostgreSQL
 * database from BENCH_ADMIN_DATABASE_URL, else in-memory PGlite; the seed's catalog; the capture journal in a
 * temporary directory), with two callers: a plain account with its own credits, and a team account drawing on
 * a parent wallet whose key has a monthly spend cap and an RPM limit, under a parent cap (caps large enough
 * never to refuse: the benchmark measures what checking them costs). Messages over IPC:
 *   → parent  { type: 'ready', url, plainKey, limitedKey, storage }
 *   ← parent  { type: 'finish' }   → parent { type: 'finished', captures, verifyOk, openHolds, capUsed, spent }
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseSource } from '../../src/catalog/importers/index.js';
import { seedCatalog } from '../../src/catalog/catalog-store.js';
import { loadConfig } from '../../src/config/config.js';
import { migrate, openDatabase, type Database } from '../../src/db/database.js';
import { createApiKey } from '../../src/ledger/api-keys.js';
import { resolveLimitTarget, setLimits } from '../../src/ledger/limits.js';
import { openScratchPostgres } from '../../test/support/scratch-database.js';
import { createLogger } from '../../src/logging/logger.js';
import { startGateway } from '../../src/main.js';
import { Decimal } from '../../src/money/decimal.js';

const adminUrl = process.env.BENCH_ADMIN_DATABASE_URL ?? '';
const upstreamUrl = process.env.BENCH_UPSTREAM_URL;
if (!upstreamUrl) throw new Error('BENCH_UPSTREAM_URL is required (the mock upstream, http://127.0.0.1:<port>)');

async function openStorage(): Promise<{ database: Database; label: string }> {
  if (adminUrl === '') {
    const database = await openDatabase({ kind: 'pglite', dataDirectory: undefined });
    return { database, label: 'PGlite (in-memory; no PostgreSQL URL given)' };
  }
  const database = await openScratchPostgres(adminUrl, 'tollgate_bench');
  const url = new URL(database.url);
  return { database, label: `PostgreSQL (scratch database ${url.pathname.slice(1)} on ${url.host})` };
}

const storage = await openStorage();
const journalDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-bench-journal-'));
process.on('exit', () => rmSync(journalDirectory, { recursive: true, force: true }));
try {
  await migrate(storage.database.db);
  const seedFile = new URL('../../fixtures/seed-formats/llm_pricing_current.json', import.meta.url);
  await seedCatalog(storage.database.db, [parseSource(readFileSync(seedFile, 'utf8'), 'llm_pricing_current.json')], {
    execute: true,
    registerModels: true,
  });
  const config = loadConfig({
    TOLLGATE_LOG_LEVEL: 'silent',
    TOLLGATE_SEED_ON_START: 'false',
    TOLLGATE_SYNC_CRON: 'off',
    TOLLGATE_DEMO: 'off',
    TOLLGATE_HOLDS: process.env.BENCH_HOLDS ?? 'lease',
    TOLLGATE_JOURNAL_DIR: journalDirectory,
    TOLLGATE_ADMIN_KEY: `bench-admin-${randomBytes(8).toString('hex')}`,
    OPENAI_BASE_URL: `${upstreamUrl}/v1`,
    OPENAI_API_KEY: 'sk-bench-upstream',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  });
  const gateway = await startGateway(config, createLogger(config.logLevel), { database: storage.database });
  const db = storage.database.db;
  const plain = await gateway.ledger.createAccount({ name: 'plain', mode: 'consumption_usd', credits: Decimal.parse('1000000') });
  const parent = await gateway.ledger.createAccount({ name: 'org', mode: 'consumption_usd', credits: Decimal.parse('1000000') });
  const team = await gateway.ledger.createAccount({ name: 'team', mode: 'consumption_usd', parent: parent.account.id });
  const limitedKey = await createApiKey(db, { accountId: team.account.id, scope: 'user', name: 'limited' });
  const huge = Decimal.parse('100000000');
  await setLimits(db, await resolveLimitTarget(db, limitedKey.prefix), { cap: huge, period: 'month', rpm: 2_000_000_000 });
  await setLimits(db, await resolveLimitTarget(db, parent.account.id), { cap: huge, period: 'month' });
  const url = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({
    type: 'ready',
    url,
    plainKey: plain.apiKey.key,
    limitedKey: limitedKey.key,
    storage: `${storage.label}, holds: ${config.ledger.holds}, rate limits: ${config.limits.redisUrl ? 'Redis' : 'in memory'}`,
  });

  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'finish') return;
    void (async () => {
      await gateway.reservations.returnUnused();
      await gateway.limits.returnUnused();
      await gateway.recorder.flush();
      const captures = await db
        .selectFrom('ledger_entries')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('kind', '=', 'capture')
        .executeTakeFirstOrThrow();
      const verification = await gateway.ledger.verify();
      const openHolds = verification.accounts.reduce((total, entry) => total.add(entry.openHolds), Decimal.ZERO);
      const usage = await db.selectFrom('limit_usage').select('used').execute();
      const wallet = await gateway.ledger.getAccount(parent.account.id);
      await gateway.close();
      await storage.database.close();
      process.send?.({
        type: 'finished',
        captures: Number(captures.count),
        verifyOk: verification.ok,
        openHolds: openHolds.toString(),
        capUsed: usage.map((row) => Decimal.parse(row.used).add(Decimal.ZERO).toString()),
        spent: Decimal.parse('1000000').sub(wallet.balance).toString(),
      });
    })().catch((error: unknown) => process.send?.({ type: 'error', message: String(error) }));
  });
  process.on('disconnect', () => {
    setTimeout(() => process.exit(1), 10_000).unref();
    void gateway
      .close()
      .then(() => storage.database.close())
      .finally(() => process.exit(0));
  });
} catch (error) {
  await storage.database.close().catch(() => undefined);
  process.send?.({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
