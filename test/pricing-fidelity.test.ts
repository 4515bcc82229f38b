import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCatalog } from '../src/catalog/catalog-store.js';
import { parseExactJson } from '../src/catalog/importers/exact-json.js';
import { parseGenaiPrices } from '../src/catalog/importers/genai-prices.js';
import { parseSource } from '../src/catalog/importers/index.js';
import type { ImportedEntry, ParsedSource } from '../src/catalog/importers/types.js';
import { resolveIn, snapshotFromEntries, type SnapshotModel, CatalogSnapshot } from '../src/catalog/resolver.js';
import { shippedSources } from '../src/catalog/shipped-catalog.js';
import { PricingCatalog } from '../src/catalog/snapshot.js';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { Decimal } from '../src/money/decimal.js';
import { priceUsage } from '../src/pricing/cost.js';
import type { ModelPrice } from '../src/pricing/types.js';
import { usageFromTotals } from '../src/pricing/usage.js';
import { backends, type TestDatabase } from './support/backends.js';

/** Issue 11, one test per item, with values worked out by hand from the sources' own numbers. */
const genaiText = readFileSync(new URL('../fixtures/genai-prices/package-data.json', import.meta.url), 'utf8');
const SEEDED_AT = new Date('2026-11-01T00:00:00Z');
const genai = () => parseGenaiPrices(parseExactJson(genaiText), 'package-data.json', SEEDED_AT);
const cost = (price: ModelPrice, input: number, output: number, cached = 0) =>
  priceUsage(usageFromTotals({ input, output, cached }), price).providerCost.toString();
const at = (time: string) => new Date(`2026-11-02T${time}Z`);

function latestShipped(): ImportedEntry[] {
  const byId = new Map<string, ImportedEntry>();
  for (const source of shippedSources()) for (const entry of source.entries) byId.set(entry.modelId, entry);
  return [...byId.values()];
}

describe.each(backends())('pricing fidelity, catalog seeded from genai-prices on $name', (backend) => {
  let database: TestDatabase;
  let catalog: PricingCatalog;
  let parsed: ParsedSource;
  beforeAll(async () => {
    database = await backend.open();
    parsed = genai();
    await seedCatalog(database.db, [parsed], { execute: true, registerModels: true, now: SEEDED_AT });
    catalog = await PricingCatalog.create({
      database,
      config: loadConfig({ TOLLGATE_FALLBACK_PRICING_FILE: '/nonexistent/no-fallback.json' }),
      logger: silentLogger(),
    });
  }, 120_000);
  afterAll(async () => {
    await database?.close();
  });

  it('resolves the names a source declares (genai-prices match clauses) with match alias and the rule shown', () => {
    const tts = catalog.resolve('gemini-2.5-flash-preview-tts', at('10:00:00'))!;
    expect(tts).toMatchObject({ modelId: 'google/gemini-2.5-flash-tts', match: 'alias', source: 'database' });
    expect(tts.rule).toBe('{"equals":"gemini-2.5-flash-preview-tts"}');
    const chat = catalog.resolve('deepseek-chat-v3-0324', at('20:00:00'))!;
    expect(chat).toMatchObject({ modelId: 'deepseek/deepseek-chat', match: 'alias', rule: '{"equals":"deepseek-chat-v3-0324"}' });
    // starts_with: a name that exists only as a clause of openai/gpt-4o-mini's.
    const dated = catalog.resolve('openai/gpt-4o-mini-2024-07-18', at('10:00:00'))!;
    expect(dated.modelId).toBe('openai/gpt-4o-mini');
    // Declared rules are rules of that provider's model: a re-seed finds them unchanged.
  });

  it('stores the rules and windows with the price version: seeding the same data again changes nothing', async () => {
    const again = await seedCatalog(database.db, [genai()], {
      execute: true,
      registerModels: true,
      now: new Date('2026-11-01T01:00:00Z'),
    });
    expect(again.sources[0]!.inserted + again.sources[0]!.updated).toBe(0);
    const row = await database.db
      .selectFrom('model_prices')
      .select(['match_rule', 'windows'])
      .where('model_id', '=', 'deepseek/deepseek-reasoner')
      .executeTakeFirstOrThrow();
    expect(row.match_rule).toEqual({
      or: [{ equals: 'deepseek-reasoner' }, { starts_with: 'deepseek-r1' }, { equals: 'deepseek-r1-0528' }],
    });
    expect(row.windows).toEqual([
      {
        start_time: '00:30:00',
        end_time: '16:30:00',
        rates: { input: '0.00000055', output: '0.00000219', cache_read: '0.00000014' },
        tiers: [],
      },
    ]);
  });

  it('prices DeepSeek at the rates of the time of day the call started (standard 00:30-16:30 UTC, else off-peak)', () => {
    // 100,000 in, 10,000 out. Standard: 0.55 and 2.19 per 1M; off-peak: 0.135 and 0.55.
    const standard = catalog.resolve('deepseek/deepseek-reasoner', at('10:00:00'))!;
    expect(standard.price.window).toBe('00:30:00-16:30:00 UTC');
    expect(cost(standard.price, 100_000, 10_000)).toBe('0.0769');
    expect(priceUsage(usageFromTotals({ input: 1, output: 1 }), standard.price).window).toBe('00:30:00-16:30:00 UTC');
    const offPeak = catalog.resolve('deepseek/deepseek-reasoner', at('20:00:00'))!;
    expect(offPeak.price.window).toBeUndefined();
    expect(cost(offPeak.price, 100_000, 10_000)).toBe('0.019');
    // deepseek-chat: standard 0.27 / 1.1, off-peak 0.135 / 0.55: twice.
    expect(cost(catalog.resolve('deepseek-chat', at('10:00:00'))!.price, 100_000, 10_000)).toBe('0.038');
    expect(cost(catalog.resolve('deepseek-chat', at('20:00:00'))!.price, 100_000, 10_000)).toBe('0.019');
    // The edges: from 00:30:00.000 inclusive to 16:30:00.000 exclusive.
    expect(catalog.resolve('deepseek-chat', at('00:29:59.999'))!.price.window).toBeUndefined();
    expect(catalog.resolve('deepseek-chat', at('00:30:00.000'))!.price.window).toBe('00:30:00-16:30:00 UTC');
    expect(catalog.resolve('deepseek-chat', at('16:29:59.999'))!.price.window).toBe('00:30:00-16:30:00 UTC');
    expect(catalog.resolve('deepseek-chat', at('16:30:00.000'))!.price.window).toBeUndefined();
    // Two windows over a dated price: deepseek-v4-flash from 2026-08-17, 0.44 / 1.32 in 01:00-04:00 and 06:00-10:00.
    expect(catalog.resolve('deepseek-v4-flash', at('07:00:00'))!.price.window).toBe('06:00:00-10:00:00 UTC');
    expect(cost(catalog.resolve('deepseek-v4-flash', at('05:00:00'))!.price, 1_000_000, 1_000_000)).toBe('0.88');
    expect(cost(catalog.resolve('deepseek-v4-flash', at('02:00:00'))!.price, 1_000_000, 1_000_000)).toBe('1.76');
  });

  it('resolves a bare name several providers list to its maker, with provider ids compared by family', () => {
    // genai-prices calls them google and moonshotai; tollgate's makers are gemini and moonshot.
    expect(catalog.resolve('gemini-2.5-pro', at('10:00:00'))!.modelId).toBe('google/gemini-2.5-pro');
    expect(catalog.resolve('kimi-k2-0905', at('10:00:00'))!.providerId).toBe('moonshotai');
    // The provider the call is routed to wins over the maker.
    expect(catalog.resolve('gemini-2.5-pro', at('10:00:00'), { provider: 'openrouter' })!.modelId).toBe(
      'openrouter/google/gemini-2.5-pro',
    );
  });

  it("keeps Gemini's models/ form on the model's tiers and prices Bedrock's regional names", () => {
    // 250,000 in, 1,000 out is above the 200k tier: 2.5 and 15 per 1M, not the base 1.25 and 10 (0.3225).
    const gemini = catalog.resolve('models/gemini-2.5-pro', at('10:00:00'))!;
    expect(gemini.modelId).toBe('google/gemini-2.5-pro');
    expect(cost(gemini.price, 250_000, 1_000)).toBe('0.64');
    for (const region of ['us', 'eu', 'apac', 'global']) {
      const bedrock = catalog.resolve(`${region}.anthropic.claude-sonnet-4-5-20250929-v1:0`, at('10:00:00'))!;
      expect(bedrock.source).toBe('database');
      expect(bedrock.modelId).toMatch(/^aws\//);
    }
  });
});

describe('pricing fidelity with the shipped catalog', () => {
  const snapshot = snapshotFromEntries(latestShipped(), 'json', 'shipped');
  const now = Date.parse('2026-11-02T10:00:00Z');

  it('prices a Gemini name at the Gemini API rates the call is routed to, not Vertex AI rates', () => {
    const bare = resolveIn(snapshot, 'gemini-2.0-flash-001', now)!;
    expect(bare).toMatchObject({ modelId: 'gemini/gemini-2.0-flash-001', providerId: 'gemini' });
    expect(cost(bare.price, 1_000_000, 1_000_000)).toBe('0.5'); // 0.10 + 0.40
    const vertex = resolveIn(snapshot, 'gemini-2.0-flash-001', now, { provider: 'vertex_ai' })!;
    expect(vertex).toMatchObject({ modelId: 'gemini-2.0-flash-001', providerId: 'vertex_ai' });
    expect(cost(vertex.price, 1_000_000, 1_000_000)).toBe('0.75'); // 0.15 + 0.60
    expect(resolveIn(snapshot, 'google/gemini-2.0-flash-001', now)!.modelId).toBe('gemini/gemini-2.0-flash-001');
  });

  it("resolves Bedrock's regional names to their own listing, else to the base model with match prefix", () => {
    const listed = resolveIn(snapshot, 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', now)!;
    expect(listed).toMatchObject({ modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', match: 'exact' });
    const unlisted = resolveIn(snapshot, 'apac.anthropic.claude-sonnet-4-5-20250929-v1:0', now)!;
    expect(unlisted).toMatchObject({ modelId: 'claude-sonnet-4-5-20250929', match: 'prefix' });
    expect(resolveIn(snapshot, 'models/gemini-2.5-pro', now)!.price.tiers).toHaveLength(1);
  });

  it('holds back the 32 unbelievable per-token rates of the shipped files (17 models)', async () => {
    const database = await backends()[0]!.open();
    try {
      const report = await seedCatalog(database.db, shippedSources(), { execute: false, registerModels: true });
      const suspicious = report.sources.flatMap((source) => source.suspicious);
      expect(suspicious).toHaveLength(17);
      expect(suspicious.flatMap((entry) => entry.reasons)).toHaveLength(32);
      expect(report.sources.reduce((sum, source) => sum + source.heldBack, 0)).toBe(17);
      const glm = suspicious.find((entry) => entry.model === 'wandb/zai-org/GLM-4.5')!;
      expect(glm.reasons[0]).toContain('input is 0.055 USD per token ($55000 per 1M)');
      const accepted = await seedCatalog(database.db, shippedSources(), {
        execute: false,
        registerModels: true,
        acceptSuspicious: true,
      });
      expect(accepted.sources.reduce((sum, source) => sum + source.heldBack, 0)).toBe(0);
      expect(accepted.sources.flatMap((source) => source.suspicious)).toHaveLength(17);
    } finally {
      await database.close();
    }
  }, 120_000);
});

describe('importers keep what a source states', () => {
  it("reads LiteLLM's input_cost_per_token_cache_hit as the cache-read rate", () => {
    const source = parseSource(
      JSON.stringify({
        'deepseek/deepseek-coder': {
          input_cost_per_token: 1.4e-7,
          input_cost_per_token_cache_hit: 1.4e-8,
          litellm_provider: 'deepseek',
          mode: 'chat',
          output_cost_per_token: 2.8e-7,
        },
      }),
      'litellm.json',
      'litellm',
    );
    const entry = source.entries[0]!;
    expect(entry.rates.cacheRead?.toString()).toBe('0.000000014');
    // 10,000 in of which 8,000 cached, 1,000 out: 2,000 x 1.4e-7 + 8,000 x 1.4e-8 + 1,000 x 2.8e-7.
    const snapshot = snapshotFromEntries([entry], 'json', 'litellm');
    expect(cost(resolveIn(snapshot, 'deepseek/deepseek-coder', 0)!.price, 10_000, 1_000, 8_000)).toBe('0.000672');
  });

  it("keeps OpenRouter's canonical slug as a declared name", () => {
    const text = readFileSync(new URL('../fixtures/openrouter/models.json', import.meta.url), 'utf8');
    const source = parseSource(text, 'models.json', 'openrouter');
    const entry = source.entries.find((candidate) => candidate.modelId === 'openrouter/deepseek/deepseek-v4-flash-0731')!;
    expect(entry.match).toEqual({ equals: 'deepseek/deepseek-v4-flash-20260731' });
    const snapshot = snapshotFromEntries(source.entries, 'json', 'openrouter');
    expect(resolveIn(snapshot, 'openrouter/deepseek/deepseek-v4-flash-20260731', 0)).toMatchObject({
      modelId: 'openrouter/deepseek/deepseek-v4-flash-0731',
      match: 'alias',
    });
  });
});

describe('choosing among providers that list the same bare name', () => {
  const model = (id: string, providerId: string): SnapshotModel => ({
    id,
    providerId,
    upstreamModel: id.slice(id.indexOf('/') + 1),
    active: true,
    modality: 'text',
    contextWindow: undefined,
    maxOutputTokens: undefined,
    prices: [
      {
        version: undefined,
        modelId: id,
        rates: { input: Decimal.parse(providerId === 'groq' ? '0.00000059' : '0.00000088'), output: Decimal.ZERO },
        tiers: [],
        effectiveFrom: undefined,
        effectiveUntil: undefined,
        source: 'test',
      },
    ],
  });
  const models = [model('groq/llama-3.3-70b', 'groq'), model('together_ai/llama-3.3-70b', 'together_ai')];

  it('takes the routed provider, then the operator preference (by family), and no guess otherwise', () => {
    const plain = CatalogSnapshot.build({ source: 'database', models, aliases: [] });
    expect(plain.find('llama-3.3-70b')).toBeUndefined();
    expect(plain.find('llama-3.3-70b', { provider: 'groq' })?.model.id).toBe('groq/llama-3.3-70b');
    expect(plain.find('llama-3.3-70b', { provider: 'together' })?.model.id).toBe('together_ai/llama-3.3-70b');
    const preferring = CatalogSnapshot.build({ source: 'database', models, aliases: [], preference: ['together'] });
    expect(preferring.find('llama-3.3-70b')?.model.id).toBe('together_ai/llama-3.3-70b');
  });
});
