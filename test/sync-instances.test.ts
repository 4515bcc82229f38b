import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerModels, writePriceVersion } from '../src/catalog/catalog-store.js';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { Decimal } from '../src/money/decimal.js';
import { startGateway, type Gateway } from '../src/main.js';
import { postgresBackend, type TestDatabase } from './support/backends.js';
import { startFeedServer, type FeedServer } from './support/feed-server.js';
import { testJournalDirectory } from './support/journal-directory.js';
import { until } from './support/wait.js';

const ADMIN_KEY = 'instances-test-admin-key';
const authorization = { authorization: `Bearer ${ADMIN_KEY}` };
const GPT_4O = 'openrouter/openai/gpt-4o';
const postgres = postgresBackend();

/**
 * Two gateway processes' worth of instances on one PostgreSQL: a price change on one reaches the other's
 * in-memory catalog through LISTEN/NOTIFY (the 15-minute TTL is only the backstop: a change seen before the
 * test's own timeout came by notification). How soon is not asserted here: a busy machine would fail a
 * latency bound, and latency is for benchmarks. PGlite belongs to one process, so this needs TEST_DATABASE_URL.
 */
(postgres ? describe : describe.skip)('every instance in step on PostgreSQL (needs TEST_DATABASE_URL)', () => {
  let database: TestDatabase;
  let feeds: FeedServer;
  let instanceA: Gateway;
  let instanceB: Gateway;

  beforeEach(async () => {
    database = await postgres!.open();
    feeds = await startFeedServer();
    await registerModels(database.db, [
      { id: GPT_4O, provider: 'openrouter', upstream_model: 'openai/gpt-4o', active: true, modality: 'text' },
    ]);
    const rates = { input: Decimal.parse('0.0000025'), output: Decimal.parse('0.00001'), cacheRead: Decimal.parse('0.00000125') };
    await writePriceVersion(database.db, GPT_4O, { rates, tiers: [] }, 'sync:openrouter', new Date(Date.now() - 60_000));
    const config = loadConfig({
      TOLLGATE_JOURNAL_DIR: testJournalDirectory(),
      DATABASE_URL: database.url,
      TOLLGATE_SEED_ON_START: 'false',
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_LOG_LEVEL: 'silent',
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      TOLLGATE_SYNC_SOURCES: 'openrouter',
      TOLLGATE_SYNC_URL_OPENROUTER: feeds.url('openrouter-price-doubled.json'),
    });
    instanceA = await startGateway(config, silentLogger());
    instanceB = await startGateway(config, silentLogger());
    expect(instanceB.catalog.resolve(GPT_4O)?.price.rates.input.toString()).toBe('0.0000025');
  });

  afterEach(async () => {
    await instanceA?.close();
    await instanceB?.close();
    await feeds.close();
    await database.close();
  });

  /** Waits until instance B's catalog prices GPT_4O's input at `input`. */
  function seenByB(input: string): Promise<void> {
    return until(
      () => instanceB.catalog.resolve(GPT_4O)?.price.rates.input.toString() === input,
      `instance B to price input at ${input}`,
    );
  }

  it('an admin PUT on instance A reaches instance B by notification', async () => {
    const response = await instanceA.app.inject({
      method: 'PUT',
      url: `/admin/pricing/models/${GPT_4O}/price`,
      headers: authorization,
      payload: { unit: '1m', input: '5', output: '20' },
    });
    expect(response.statusCode).toBe(200);
    await seenByB('0.000005');
    expect(instanceB.catalog.resolve(GPT_4O)?.price.rates.output.toString()).toBe('0.00002');
  });

  it('an executed sync on instance A reaches instance B by notification', async () => {
    const response = await instanceA.app.inject({
      method: 'POST',
      url: '/admin/pricing/sync',
      headers: authorization,
      payload: { execute: true },
    });
    expect(response.json()).toMatchObject({ status: 'succeeded', summary: { applied: 1 } });
    await seenByB('0.000005');
    expect(instanceB.catalog.resolve(GPT_4O)?.price.source).toBe('sync:openrouter');
  });
});
