import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { parseSource } from '../../src/catalog/importers/index.js';
import { seedCatalog } from '../../src/catalog/catalog-store.js';
import { loadConfig } from '../../src/config/config.js';
import type { Kysely } from 'kysely';
import type { BudgetMode, Schema } from '../../src/db/schema.js';
import { silentLogger, type Logger } from '../../src/logging/logger.js';
import { startGateway, type Gateway } from '../../src/main.js';
import { Decimal } from '../../src/money/decimal.js';
import type { Backend, TestDatabase } from './backends.js';
import { testJournalDirectory } from './journal-directory.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';

export interface TestGateway {
  gateway: Gateway;
  database: TestDatabase;
  /** http://127.0.0.1:<port> */
  url: string;
  createAccount(
    mode: BudgetMode,
    options?: { credits?: string; jobPrice?: string; name?: string; markupPercent?: string; markupFixedFee?: string },
  ): Promise<{ id: string; key: string }>;
  /** The official OpenAI client pointed at the gateway, with SDK retries off so each test controls its calls. */
  client(key: string, options?: { timeoutMs?: number }): OpenAI;
  /**
   * Waits for what is written after responses: the captures of settled calls and the usage records; then
   * closes the idle credit leases, so an idle account's available equals its balance again.
   */
  flush(): Promise<void>;
  close(): Promise<void>;
}

let accountCounter = 0;

/**
 * A gateway listening on loopback over a fresh database of `backend`, its catalog seeded from the seed's
 * per-token file (gpt-4o-mini, claude-sonnet-4-5, gemini-2.5-flash, ...), every upstream pointed at
 * `upstreamUrl` (the mock upstream).
 */
export async function startTestGateway(
  backend: Backend,
  /**
   * `seedFiles`: more price files (fixture paths) seeded after the seed's own, the last one winning; `logger`:
   * where the gateway logs (silent by default).
   */
  options: {
    upstreamUrl?: string;
    env?: Record<string, string>;
    seedFiles?: string[];
    clock?: () => number;
    logger?: Logger;
  } = {},
): Promise<TestGateway> {
  const database = await backend.open();
  const upstream = options.upstreamUrl;
  const config = loadConfig({
    TOLLGATE_JOURNAL_DIR: testJournalDirectory(),
    TOLLGATE_SEED_ON_START: 'false',
    TOLLGATE_SYNC_CRON: 'off',
    TOLLGATE_LOG_LEVEL: 'silent',
    TOLLGATE_ADMIN_KEY: ADMIN_KEY,
    TOLLGATE_DEMO: upstream ? 'off' : 'on',
    TOLLGATE_UPSTREAM_MAX_RETRIES: '0',
    // Leases end when a test flushes (or retires them), never because the machine was slow between two calls:
    // what a test asserts about an account's entries must not depend on how busy the machine is. The ages
    // themselves are tested on a controlled clock (src/ledger/credit-lease-lifecycle.test.ts).
    TOLLGATE_LEASE_IDLE_MS: '3600000',
    TOLLGATE_LEASE_MAX_AGE_MS: '3600000',
    TOLLGATE_HOLD_MAX_AGE_SECONDS: '7500',
    // On PostgreSQL, captures and usage records go through the write thread, as `tollgate serve --workers 1` on
    // a machine with cores to spare writes them (PGlite has none).
    TOLLGATE_WRITE_THREAD: 'on',
    ...(upstream
      ? {
          OPENAI_BASE_URL: `${upstream}/v1`,
          OPENAI_API_KEY: 'sk-test-openai',
          ANTHROPIC_BASE_URL: `${upstream}/v1`,
          ANTHROPIC_API_KEY: 'sk-test-anthropic',
          GEMINI_BASE_URL: `${upstream}/v1beta`,
          GEMINI_API_KEY: 'test-gemini',
          XAI_BASE_URL: `${upstream}/v1`,
          XAI_API_KEY: 'test-xai',
          GROQ_BASE_URL: `${upstream}/v1`,
          GROQ_API_KEY: 'test-groq',
        }
      : {}),
    ...options.env,
  });
  await seedTestCatalog(database.db, options.seedFiles);
  const gateway = await startGateway(config, options.logger ?? silentLogger(), {
    database,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const address = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    gateway,
    database,
    url: address,
    async createAccount(mode, accountOptions = {}) {
      accountCounter += 1;
      const created = await gateway.ledger.createAccount({
        name: accountOptions.name ?? `account-${mode}-${accountCounter}-${Date.now()}`,
        mode,
        credits: Decimal.parse(accountOptions.credits ?? (mode === 'consumption_tokens' ? '100000' : '10')),
        ...(accountOptions.jobPrice ? { jobPrice: Decimal.parse(accountOptions.jobPrice) } : {}),
        ...(accountOptions.markupPercent ? { markupPercent: Decimal.parse(accountOptions.markupPercent) } : {}),
        ...(accountOptions.markupFixedFee ? { markupFixedFee: Decimal.parse(accountOptions.markupFixedFee) } : {}),
      });
      return { id: created.account.id, key: created.apiKey.key };
    },
    client(key, clientOptions = {}) {
      return new OpenAI({ baseURL: `${address}/v1`, apiKey: key, maxRetries: 0, timeout: clientOptions.timeoutMs ?? 30_000 });
    },
    async flush() {
      await gateway.reservations.returnUnused();
      await gateway.limits.returnUnused();
      await gateway.recorder.flush();
    },
    async close() {
      await gateway.close();
      await database.close();
    },
  };
}

/**
 * Seeds a test database's catalog from the seed's per-token file (gpt-4o-mini, claude-sonnet-4-5, ...), then
 * `seedFiles` (fixture paths), the last one winning.
 */
export async function seedTestCatalog(db: Kysely<Schema>, seedFiles: string[] = []): Promise<void> {
  const seedFile = new URL('../../fixtures/seed-formats/llm_pricing_current.json', import.meta.url);
  const source = parseSource(readFileSync(seedFile, 'utf8'), 'llm_pricing_current.json');
  const more = seedFiles.map((file) => parseSource(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'), file));
  await seedCatalog(db, [source, ...more], { execute: true, registerModels: true });
}
