import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coverage, priceAt, seedCatalog } from '../src/catalog/catalog-store.js';
import { parseSource } from '../src/catalog/importers/index.js';
import { SHIPPED_CATALOG_DIRECTORY, seedShippedCatalog } from '../src/catalog/shipped-catalog.js';
import { backends, type TestDatabase } from './support/backends.js';

const projectText = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe.each(backends())('bulk catalog imports on $name', (backend) => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await backend.open();
  });
  afterEach(async () => {
    await database.close();
  });

  it('registers and prices every believable LiteLLM entry with a token, per-second or per-image price (1,616 of 1,633), then writes nothing', async () => {
    const litellm = () =>
      parseSource(projectText('data/catalog/model_prices_and_context_window.json'), 'model_prices_and_context_window.json');
    const report = await seedCatalog(database.db, [litellm()], { execute: true, registerModels: true });
    // 1,528 priced by the token; 105 more by the second of audio (45: whisper-1, groq, deepgram...) or by the image
    // (imagen, ...; the 49 size-and-quality entries of dall-e-2, dall-e-3 and gpt-image-1 folded into 8 models' rates).
    // 17 of them state per-token rates above the believable limit (wandb's at up to $135,000 per 1M input): held
    // back, neither registered nor priced.
    expect(report.sources[0]).toMatchObject({
      total: 1633,
      inserted: 1616,
      registered: 1616,
      heldBack: 17,
      skippedZeroPrice: 0,
      errors: [],
    });
    expect(report.sources[0]!.notices).toHaveLength(125);
    expect(report.coverage).toMatchObject({ active: 1616, priced: 1616, percent: '100.00', unpriced: [] });
    // The new rate kinds, stored and read back exactly.
    expect((await priceAt(database.db, 'whisper-1'))!.rates.audioSecond!.toString()).toBe('0.0001');
    const dallE3 = await priceAt(database.db, 'dall-e-3');
    expect(dallE3!.imageRates!.map((entry) => `${entry.size} ${entry.quality} ${entry.rate.toString()}`)).toContain(
      '1024x1792 hd 0.11999117312',
    );

    const gpt4o = await priceAt(database.db, 'gpt-4o');
    expect(gpt4o!.rates.input.toString()).toBe('0.0000025');
    expect(gpt4o!.rates.output.toString()).toBe('0.00001');
    const sonnet = await priceAt(database.db, 'claude-sonnet-4-5');
    expect(sonnet!.tiers[0]!.aboveInputTokens).toBe(200000);
    expect(sonnet!.tiers[0]!.rates.output!.toString()).toBe('0.0000225');
    const model = await database.db
      .selectFrom('models')
      .selectAll()
      .where('id', '=', 'gemini/gemini-2.5-flash')
      .executeTakeFirstOrThrow();
    expect(model).toMatchObject({
      provider_id: 'gemini',
      upstream_model: 'gemini-2.5-flash',
      context_window: 1048576,
      max_output_tokens: 65535,
    });
    // A free local model is a stated zero price, not a missing one.
    expect((await priceAt(database.db, 'ollama/llama3'))!.rates.input.isZero()).toBe(true);

    const again = await seedCatalog(database.db, [litellm()], { execute: true, registerModels: true });
    expect(again.sources[0]).toMatchObject({ inserted: 0, updated: 0, unchanged: 1616, registered: 0, heldBack: 17 });
    expect(again.written).toEqual({ models: 0, versions: 0, closed: 0 });
  });

  it('prices every fixed-price OpenRouter model and reports the variable-price ones', async () => {
    const openrouter = parseSource(projectText('fixtures/openrouter/models.json'), 'models.json');
    const report = await seedCatalog(database.db, [openrouter], { execute: true, registerModels: true });
    expect(report.sources[0]).toMatchObject({ inserted: 331, errors: [] });
    expect(report.sources[0]!.notices.map((notice) => notice.model)).toContain('openrouter/auto');
    expect(report.coverage.priced).toBe(331);
    expect(await priceAt(database.db, 'openrouter/openrouter/auto')).toBeUndefined();
    expect((await priceAt(database.db, 'openrouter/openai/gpt-4o'))!.rates.cacheRead!.toString()).toBe('0.00000125');
  });

  it('seeds the shipped catalog once: over 1,500 priced, upstream providers recorded, idempotent', async () => {
    const progress: number[] = [];
    const first = await seedShippedCatalog(database.db, { onProgress: (done) => progress.push(done) });
    expect(first.coverage.priced).toBeGreaterThan(1500);
    expect(first.coverage.percent).toBe('100.00');
    expect(progress.length).toBeGreaterThan(0);
    const providers = await database.db
      .selectFrom('models')
      .select(['id', 'provider_id'])
      .where('id', 'in', [
        'gpt-4o',
        'gpt-4o-mini',
        'claude-sonnet-4-5',
        'gemini-2.5-flash',
        'nosana/meta-llama/Llama-3.3-70B-Instruct',
      ])
      .orderBy('id')
      .execute();
    expect(providers).toEqual([
      { id: 'claude-sonnet-4-5', provider_id: 'anthropic' },
      // LiteLLM's bare Gemini ids are Vertex AI's listings (its prices); the Gemini API's are `gemini/...`.
      { id: 'gemini-2.5-flash', provider_id: 'vertex_ai' },
      { id: 'gpt-4o', provider_id: 'openai' },
      { id: 'gpt-4o-mini', provider_id: 'openai' },
      { id: 'nosana/meta-llama/Llama-3.3-70B-Instruct', provider_id: 'nosana' },
    ]);
    expect((await priceAt(database.db, 'nosana/meta-llama/Llama-3.3-70B-Instruct'))!.rates.output.toString()).toBe('0.0000009');
    expect((await priceAt(database.db, 'gpt-4o-mini'))!.rates.input.toString()).toBe('0.00000015');

    const second = await seedShippedCatalog(database.db);
    expect(second.written).toEqual({ models: 0, versions: 0, closed: 0 });
    expect(second.sources.every((source) => source.inserted === 0 && source.updated === 0)).toBe(true);
    expect((await coverage(database.db)).priced).toBe(first.coverage.priced);
    expect(SHIPPED_CATALOG_DIRECTORY.endsWith('/data/catalog/')).toBe(true);
  });
});
