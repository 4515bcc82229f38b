import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerModels, writePriceVersion } from '../src/catalog/catalog-store.js';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { Decimal } from '../src/money/decimal.js';
import { startGateway, type Gateway } from '../src/main.js';
import { postgresBackend, type TestDatabase } from './support/backends.js';
import { startFeedServer, type FeedServer } from './support/feed-server.js';
import { testJournalDirectory } from './support/journal-directory.js';

const ADMIN_KEY = 'instances-test-admin-key';
const authorization = { authorization: `Bearer ${ADMIN_KEY}` };
const GPT_4O = 'openrouter/openai/gpt-4o';
const postgres = postgresBackend();

/**
 * Two gateway processes' worth of instances on one PostgreSQL: a price change on one reaches the other's
 * in-memory catalog through LISTEN/NOTIFY within a second (the 15-minute TTL is only the backstop).
 * PGlite belongs to one process, so this needs TEST_DATABASE_URL.
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

  it('an admin PUT on instance A reaches instance B within a second', async () => {
    const response = await instanceA.app.inject({
      method: 'PUT',
      url: `/admin/pricing/models/${GPT_4O}/price`,
      headers: authorization,
      payload: { unit: '1m', input: '5', output: '20' },
    });
    expect(response.statusCode).toBe(200);
    const elapsed = await pollUntil(() => instanceB.catalog.resolve(GPT_4O)?.price.rates.input.toString() === '0.000005');
    expect(elapsed).toBeLessThan(1_000);
    expect(instanceB.catalog.resolve(GPT_4O)?.price.rates.output.toString()).toBe('0.00002');
  });

  it('an executed sync on instance A reaches instance B within a second', async () => {
    const response = await instanceA.app.inject({
      method: 'POST',
      url: '/admin/pricing/sync',
      headers: authorization,
      payload: { execute: true },
    });
    expect(response.json()).toMatchObject({ status: 'succeeded', summary: { applied: 1 } });
    const elapsed = await pollUntil(() => instanceB.catalog.resolve(GPT_4O)?.price.rates.input.toString() === '0.000005');
    expect(elapsed).toBeLessThan(1_000);
    expect(instanceB.catalog.resolve(GPT_4O)?.price.source).toBe('sync:openrouter');
  });
});

/** Polls every 20 ms; returns the milliseconds it took, or throws after one second. */
async function pollUntil(condition: () => boolean): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > 1_000) throw new Error('instance B did not see the new price within 1 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - started;
}
