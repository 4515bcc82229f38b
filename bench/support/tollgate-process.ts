/**
 * tollgate for the benchmark, in its own process (as `tollgate serve` runs), billing every call: a scratch
 * PostgreSQL database created from BENCH_ADMIN_DATABASE_URL (dropped when done), or, when that is empty,
 * an in-memory PGlite. Catalog: the seed's per-token file (gpt-4o-mini among its models); one account with
 * ample credits. Logs silent, as the brief's TOLLGATE_LOG_LEVEL=silent. The capture journal in a temporary
 * directory (BENCH_JOURNAL selects its mode). Messages over IPC:
 *   → parent  { type: 'ready', url, key, storage }
 *   ← parent  { type: 'finish' }   → parent { type: 'finished', captures, usageRecords, verifyOk, openHolds }
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseSource } from '../../src/catalog/importers/index.js';
import { seedCatalog } from '../../src/catalog/catalog-store.js';
import { loadConfig } from '../../src/config/config.js';
import { migrate, openDatabase, type Database } from '../../src/db/database.js';
import { openScratchPostgres } from '../../test/support/scratch-database.js';
import { createLogger } from '../../src/logging/logger.js';
import { startGateway } from '../../src/main.js';
import { Decimal } from '../../src/money/decimal.js';

const adminUrl = process.env.BENCH_ADMIN_DATABASE_URL ?? '';
const upstreamUrl = process.env.BENCH_UPSTREAM_URL;
if (!upstreamUrl) throw new Error('BENCH_UPSTREAM_URL is required (the mock upstream, http://127.0.0.1:<port>)');

/** The database the benchmark bills on; closing it drops a scratch PostgreSQL database. */
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
  const source = parseSource(readFileSync(seedFile, 'utf8'), 'llm_pricing_current.json');
  await seedCatalog(storage.database.db, [source], { execute: true, registerModels: true });
  const config = loadConfig({
    TOLLGATE_LOG_LEVEL: 'silent',
    TOLLGATE_SEED_ON_START: 'false',
    TOLLGATE_SYNC_CRON: 'off',
    TOLLGATE_DEMO: 'off',
    // BENCH_HOLDS=per_call measures the durable hold and capture per call instead of credit leases.
    TOLLGATE_HOLDS: process.env.BENCH_HOLDS ?? 'lease',
    // BENCH_JOURNAL=fsync|off measures the capture journal's other modes (the default writes before answering).
    TOLLGATE_JOURNAL: process.env.BENCH_JOURNAL ?? 'write',
    TOLLGATE_JOURNAL_DIR: journalDirectory,
    TOLLGATE_ADMIN_KEY: `bench-admin-${randomBytes(8).toString('hex')}`,
    OPENAI_BASE_URL: `${upstreamUrl}/v1`,
    OPENAI_API_KEY: 'sk-bench-upstream',
  });
  const gateway = await startGateway(config, createLogger(config.logLevel), { database: storage.database });
  const account = await gateway.ledger.createAccount({
    name: 'bench',
    mode: 'consumption_usd',
    credits: Decimal.parse('1000000'),
  });
  const url = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ type: 'ready', url, key: account.apiKey.key, storage: `${storage.label}, holds: ${config.ledger.holds}` });

  let finishing = false;
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'finish') return;
    finishing = true;
    void (async () => {
      // Captures are written just after each response, and credit leases close when idle: wait for both.
      await gateway.reservations.returnUnused();
      await gateway.recorder.flush();
      const db = storage.database.db;
      const captures = await db
        .selectFrom('ledger_entries')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('account_id', '=', account.account.id)
        .where('kind', '=', 'capture')
        .executeTakeFirstOrThrow();
      const records = await db
        .selectFrom('usage_records')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('account_id', '=', account.account.id)
        .where('status', '=', 'success')
        .executeTakeFirstOrThrow();
      const verification = await gateway.ledger.verify();
      const openHolds = verification.accounts.reduce((total, entry) => total.add(entry.openHolds), Decimal.ZERO);
      await gateway.close();
      await storage.database.close();
      process.send?.({
        type: 'finished',
        captures: Number(captures.count),
        usageRecords: Number(records.count),
        verifyOk: verification.ok,
        openHolds: openHolds.toString(),
      });
    })().catch((error: unknown) => process.send?.({ type: 'error', message: String(error) }));
  });
  process.on('disconnect', () => {
    if (finishing) process.exit(0);
    // The benchmark went away mid-run: still drop the scratch database, within a bound.
    setTimeout(() => process.exit(1), 10_000).unref();
    void gateway
      .close()
      .then(() => storage.database.close())
      .finally(() => process.exit(1));
  });
} catch (error) {
  await storage.database.close().catch(() => undefined);
  process.send?.({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
