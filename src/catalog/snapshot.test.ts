import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../logging/logger.js';
import { PricingCatalog } from './snapshot.js';
import { until } from '../../test/support/wait.js';

const FALLBACK_FILE = fileURLToPath(new URL('../../fixtures/seed-formats/llm_pricing_current.json', import.meta.url));

/** A logger whose lines the test can read, as an operator would grep them. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
  const messages = () => lines.map((line) => String(line.msg));
  return { logger, lines, messages };
}

function config(environment: Record<string, string> = {}) {
  return loadConfig({ TOLLGATE_FALLBACK_PRICING_FILE: '/nonexistent/pricing.json', ...environment });
}

async function addModel(database: TestDatabase, id: string, input: string, from = '2025-01-01T00:00:00Z') {
  await database.db
    .insertInto('providers')
    .values({ id: 'openai', name: 'OpenAI' })
    .onConflict((c) => c.doNothing())
    .execute();
  await database.db
    .insertInto('models')
    .values({
      id,
      provider_id: 'openai',
      upstream_model: id,
      active: true,
      modality: 'text',
      context_window: 128000,
      max_output_tokens: 16384,
    })
    .execute();
  await addPrice(database, id, input, from);
}

async function addPrice(database: TestDatabase, id: string, input: string, from: string) {
  await database.db
    .updateTable('model_prices')
    .set({ effective_until: from })
    .where('model_id', '=', id)
    .where('effective_until', 'is', null)
    .execute();
  await database.db
    .insertInto('model_prices')
    .values({ model_id: id, effective_from: from, input, output: '0.00001', tiers: '[]', source: 'test' })
    .execute();
}

describe.each(backends())('PricingCatalog on $name', (backend) => {
  let database: TestDatabase | undefined;
  let catalog: PricingCatalog | undefined;
  afterEach(async () => {
    catalog?.stop();
    await database?.close().catch(() => undefined);
    database = undefined;
  });

  it('loads the database snapshot, logs it, and swaps a new one in on reload', async () => {
    database = await backend.open();
    await addModel(database, 'gpt-4o', '0.0000025');
    await database.db.insertInto('model_aliases').values({ alias: 'flagship', model_id: 'gpt-4o' }).execute();
    const log = capturedLogger();
    catalog = await PricingCatalog.create({ database, config: config(), logger: log.logger });
    expect(log.messages()).toContain('pricing data loaded: 1 models from database');
    expect(log.lines.find((line) => line.msg === 'pricing data loaded: 1 models from database')).toMatchObject({
      models: 1,
      source: 'database',
    });

    const first = catalog.resolve('flagship')!;
    expect([first.modelId, first.match, first.source, first.price.rates.input.toString()]).toEqual([
      'gpt-4o',
      'alias',
      'database',
      '0.0000025',
    ]);

    await addPrice(database, 'gpt-4o', '0.000002', '2026-01-01T00:00:00Z');
    expect(catalog.resolve('gpt-4o')!.price.rates.input.toString()).toBe('0.0000025'); // no I/O until reload
    expect(await catalog.reload()).toEqual({ models: 1, source: 'database' });
    const second = catalog.resolve('gpt-4o')!;
    expect(second.price.rates.input.toString()).toBe('0.000002');
    expect(second.price.version).toBeGreaterThan(first.price.version!);
    expect(catalog.resolve('gpt-4o', new Date('2025-06-01T00:00:00Z'))!.price.rates.input.toString()).toBe('0.0000025');
    expect(catalog.listModels()).toMatchObject([
      { id: 'gpt-4o', providerId: 'openai', contextWindow: 128000, maxOutputTokens: 16384 },
    ]);
  });

  it('reloads on its own every TTL', async () => {
    database = await backend.open();
    await addModel(database, 'gpt-4o', '0.0000025');
    const reloading = await PricingCatalog.create({
      database,
      config: config({ TOLLGATE_PRICING_TTL_SECONDS: '60' }),
      logger: capturedLogger().logger,
    });
    catalog = reloading;
    // The TTL's timer on the test's clock; the database's own timers stay real.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      reloading.startAutoReload();
      await addPrice(database, 'gpt-4o', '0.000003', new Date(Date.now() - 1000).toISOString());
      vi.advanceTimersByTime(59_999);
      // Nothing else reloads this catalog: a millisecond short of the TTL it still has the old price.
      expect(reloading.resolve('gpt-4o')!.price.rates.input.toString()).toBe('0.0000025');
      vi.advanceTimersByTime(1);
      await until(() => reloading.resolve('gpt-4o')!.price.rates.input.toString() === '0.000003', 'the TTL reload');
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps serving the last snapshot when the database is unreachable', async () => {
    database = await backend.open();
    await addModel(database, 'gpt-4o', '0.0000025');
    const log = capturedLogger();
    catalog = await PricingCatalog.create({ database, config: config(), logger: log.logger });
    await database.close();
    const result = await catalog.reload();
    expect(result).toMatchObject({ models: 1, source: 'database' });
    expect(result.error).toBeTypeOf('string');
    expect(log.messages()).toContain('pricing reload from the database failed; the last snapshot keeps serving');
    expect(log.messages().filter((message) => message.startsWith('pricing data loaded'))).toHaveLength(1);
    expect(catalog.resolve('gpt-4o')).toMatchObject({ source: 'database', match: 'exact' });
  });

  it('prices a model the database lacks from the JSON file, then the default price', async () => {
    database = await backend.open();
    await addModel(database, 'gpt-4o', '0.0000025');
    catalog = await PricingCatalog.create({
      database,
      config: config({ TOLLGATE_FALLBACK_PRICING_FILE: FALLBACK_FILE }),
      logger: capturedLogger().logger,
    });
    expect(catalog.resolve('gpt-4o')!.source).toBe('database');
    const fromFile = catalog.resolve('claude-sonnet-4-5')!;
    expect([fromFile.source, fromFile.match, fromFile.price.rates.input.toString()]).toEqual(['json', 'exact', '0.000003']);
    expect(catalog.resolve('no-such-model')!.source).toBe('default');
  });
});

describe('PricingCatalog without a database', () => {
  it('serves the JSON fallback file when there is no snapshot', async () => {
    const log = capturedLogger();
    const catalog = await PricingCatalog.create({
      database: undefined,
      config: config({ TOLLGATE_FALLBACK_PRICING_FILE: FALLBACK_FILE }),
      logger: log.logger,
    });
    expect(log.messages()).toContain('pricing data loaded: 37 models from json');
    const resolution = catalog.resolve('gpt-4o-mini-2024-07-18')!;
    expect([resolution.modelId, resolution.source, resolution.match]).toEqual(['gpt-4o-mini', 'json', 'snapshot']);
    expect(resolution.price.rates.cacheRead!.toString()).toBe('0.000000075');
    expect(catalog.listModels()).toHaveLength(37);
  });

  it('falls back to the configured default price and warns at most once a minute per model', async () => {
    const log = capturedLogger();
    const seen: string[] = [];
    const catalog = await PricingCatalog.create({
      database: undefined,
      config: config({ TOLLGATE_DEFAULT_INPUT_PER_1M: '0.5', TOLLGATE_DEFAULT_OUTPUT_PER_1M: '1.5' }),
      logger: log.logger,
      onLookup: (source, match) => seen.push(`${source}/${match}`),
    });
    expect(log.messages()).toContain('fallback pricing file not found or invalid; using the default price for unknown models');
    expect(log.messages()).toContain('pricing data loaded: 0 models from default');
    const first = catalog.resolve('claude-opus-9')!;
    catalog.resolve('claude-opus-9');
    catalog.resolve('mystery/model');
    expect([first.source, first.match, first.modelId, first.providerId]).toEqual(['default', 'default', undefined, 'anthropic']);
    expect(first.price.rates.input.toString()).toBe('0.0000005');
    expect(first.price.rates.output.toString()).toBe('0.0000015');
    const warnings = log.messages().filter((message) => message.startsWith('default pricing used for'));
    expect(warnings).toEqual(['default pricing used for claude-opus-9', 'default pricing used for mystery/model']);
    expect(seen).toEqual(['default/default', 'default/default', 'default/default']);
  });

  it('rejects unpriced models when the operator says so', async () => {
    const catalog = await PricingCatalog.create({
      database: undefined,
      config: config({ TOLLGATE_FALLBACK_PRICING_FILE: FALLBACK_FILE, TOLLGATE_UNPRICED_MODELS: 'reject' }),
      logger: capturedLogger().logger,
    });
    expect(catalog.resolve('no-such-model')).toBeUndefined();
    expect(catalog.resolve(undefined as unknown as string)).toBeUndefined();
    expect(catalog.resolve('gpt-4o')!.source).toBe('json');
  });

  it('prices a model whose steps already ran at the default price even when unpriced models are rejected', async () => {
    const log = capturedLogger();
    const seen: string[] = [];
    const catalog = await PricingCatalog.create({
      database: undefined,
      config: config({ TOLLGATE_FALLBACK_PRICING_FILE: FALLBACK_FILE, TOLLGATE_UNPRICED_MODELS: 'reject' }),
      logger: log.logger,
      onLookup: (source, match) => seen.push(`${source}/${match}`),
    });
    // An advisor the catalog does not price: the call ran and the provider bills its steps, so it is priced at the
    // default ($1 / $2 per 1M), its source and match saying so, and the warning is logged.
    const ran = catalog.resolveRan('claude-fable-5', new Date('2026-08-21T12:00:00Z'), { provider: 'anthropic' });
    expect([ran.source, ran.match, ran.modelId, ran.providerId, ran.price.version]).toEqual([
      'default',
      'default',
      undefined,
      'anthropic',
      undefined,
    ]);
    expect([ran.price.rates.input.toString(), ran.price.rates.output.toString()]).toEqual(['0.000001', '0.000002']);
    expect(log.messages()).toContain('default pricing used for claude-fable-5');
    // A priced one resolves as `resolve` would.
    const priced = catalog.resolveRan('gpt-4o-mini-2024-07-18', undefined, { provider: 'openai' });
    expect([priced.modelId, priced.source, priced.match]).toEqual(['gpt-4o-mini', 'json', 'snapshot']);
    expect(seen).toEqual(['default/default', 'json/snapshot']);
  });
});
