import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  coverage,
  priceAt,
  priceHistory,
  readRegisterModels,
  registerModels,
  seedCatalog,
  writePriceVersion,
} from '../src/catalog/catalog-store.js';
import { parseExactJson } from '../src/catalog/importers/exact-json.js';
import { parseSource } from '../src/catalog/importers/index.js';
import type { ImportedEntry, ParsedSource } from '../src/catalog/importers/types.js';
import { Decimal } from '../src/money/decimal.js';
import { backends, type TestDatabase } from './support/backends.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/seed-formats/${name}`, import.meta.url), 'utf8');
const catalogModels = () => readRegisterModels(parseExactJson(fixture('catalog_models.json')), 'catalog_models.json');
const manualPricing = () => parseSource(fixture('manual_pricing.json'), 'manual_pricing.json');
const countRows = async (database: TestDatabase) => {
  const prices = await database.db
    .selectFrom('model_prices')
    .select((select) => select.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  const models = await database.db
    .selectFrom('models')
    .select((select) => select.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return { prices: Number(prices.count), models: Number(models.count) };
};

describe.each(backends())('catalog seeding on $name', (backend) => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await backend.open();
  });
  afterEach(async () => {
    await database.close();
  });

  it("reproduces the seed's story: 9 of 10 priced, whisper through a variant, then all unchanged", async () => {
    expect(await registerModels(database.db, catalogModels())).toEqual({ inserted: 10, unchanged: 0 });
    expect(await registerModels(database.db, catalogModels())).toEqual({ inserted: 0, unchanged: 10 });

    const dryRun = await seedCatalog(database.db, [manualPricing()], { execute: false, registerModels: false });
    expect(dryRun.sources[0]!.inserted).toBe(9);
    expect((await countRows(database)).prices).toBe(0);

    const first = await seedCatalog(database.db, [manualPricing()], {
      execute: true,
      registerModels: false,
      now: new Date('2026-01-26T12:00:00Z'),
    });
    const stats = first.sources[0]!;
    expect(stats).toMatchObject({
      total: 175,
      inserted: 9,
      updated: 0,
      unchanged: 0,
      skippedZeroPrice: 1,
      skippedNotInCatalog: 165,
    });
    expect(stats.variantMatches).toEqual([{ from: 'nosana/whisper-large-v3', to: 'nosana/openai/whisper-large-v3' }]);
    expect(stats.errors).toEqual([]);
    expect(first.coverage).toEqual({
      active: 10,
      priced: 9,
      percent: '90.00',
      unpriced: ['nosana/stabilityai/stable-diffusion-xl-base-1.0'],
    });
    expect(dryRun.coverage).toEqual(first.coverage);

    const llama = await priceAt(database.db, 'nosana/meta-llama/Llama-3.3-70B-Instruct');
    expect(llama!.rates.input.eq(Decimal.parse('9E-7'))).toBe(true);
    expect(llama!.source).toBe('manual-pricing:manual_pricing.json');
    const whisper = await priceAt(database.db, 'nosana/openai/whisper-large-v3');
    expect(whisper!.rates.input.toString()).toBe('0.0000005');

    const second = await seedCatalog(database.db, [manualPricing()], { execute: true, registerModels: false });
    expect(second.sources[0]).toMatchObject({ inserted: 0, updated: 0, unchanged: 9 });
    expect(second.written).toEqual({ models: 0, versions: 0, closed: 0 });
    expect((await countRows(database)).prices).toBe(9);
  });

  it('lists invalid entries, writes the valid rest, and lets the last source win', async () => {
    await registerModels(database.db, catalogModels());
    const invalid = parseSource(
      '{"nosana": {"meta-llama/Llama-3.1-8B-Instruct": {"prompt": "abc", "completion": "0.18"}, "Qwen/Qwen2.5-7B-Instruct": {"prompt": "0.20", "completion": "0.25"}}}',
      'override.json',
    );
    const report = await seedCatalog(database.db, [manualPricing(), invalid], { execute: true, registerModels: false });
    expect(report.sources[1]!.errors.map((error) => error.message)).toEqual([
      'override.json: model nosana/meta-llama/Llama-3.1-8B-Instruct, field prompt: not a decimal number (got "abc")',
    ]);
    expect(report.sources[1]!.inserted).toBe(1);
    expect(report.sources[0]!.superseded).toBe(1);
    const qwen = await priceAt(database.db, 'nosana/Qwen/Qwen2.5-7B-Instruct');
    expect(qwen!.rates.output.toString()).toBe('0.00000025');
    expect((await priceAt(database.db, 'nosana/meta-llama/Llama-3.1-8B-Instruct'))!.rates.input.toString()).toBe('0.00000018');
    const again = await seedCatalog(database.db, [manualPricing(), invalid], { execute: true, registerModels: false });
    expect(again.written.versions).toBe(0);
  });

  it('leaves the catalog as it was when a write fails mid-transaction', async () => {
    await registerModels(database.db, catalogModels());
    await seedCatalog(database.db, [manualPricing()], {
      execute: true,
      registerModels: false,
      now: new Date('2026-01-01T00:00:00Z'),
    });
    const before = await countRows(database);
    // 600 new models, so the failing row lands in the second batch of 500 after the first one was written;
    // the negative rate bypasses the importers' checks and, accepted as suspicious, the seed's guard: the table's
    // CHECK constraint refuses it.
    const entries: ImportedEntry[] = Array.from({ length: 600 }, (_, index) => ({
      modelId: `crash/model-${index}`,
      variants: [],
      providerId: 'crash',
      upstreamModel: `model-${index}`,
      modality: 'text',
      rates: { input: Decimal.parse(index === 550 ? '-1' : '0.000001'), output: Decimal.parse('0.000002') },
      tiers: [],
    }));
    entries.push({
      ...entries[0]!,
      modelId: 'nosana/meta-llama/Llama-3.3-70B-Instruct',
      rates: { input: Decimal.parse('0.000005'), output: Decimal.parse('0.000005') },
    });
    const source: ParsedSource = { format: 'llm-pricing-json', file: 'crash.json', entries, errors: [], notices: [] };
    await expect(
      seedCatalog(database.db, [source], { execute: true, registerModels: true, acceptSuspicious: true }),
    ).rejects.toThrow(/model_prices_rates_not_negative/);
    expect(await countRows(database)).toEqual(before);
    expect((await priceAt(database.db, 'nosana/meta-llama/Llama-3.3-70B-Instruct'))!.rates.input.toString()).toBe('0.0000009');
    expect((await coverage(database.db)).priced).toBe(9);
  });

  it('versions a price change: the old version closed, the new one open, priceAt at an old time', async () => {
    await registerModels(database.db, catalogModels());
    const model = 'nosana/deepseek-ai/DeepSeek-R1';
    const january = new Date('2026-01-01T00:00:00Z');
    const march = new Date('2026-03-01T00:00:00Z');
    const first = await writePriceVersion(
      database.db,
      model,
      { rates: { input: Decimal.parse('0.000003'), output: Decimal.parse('0.000007') }, tiers: [] },
      'test',
      january,
    );
    expect(first).toMatchObject({ previousVersion: undefined, changed: true });
    const same = await writePriceVersion(
      database.db,
      model,
      { rates: { input: Decimal.parse('3E-6'), output: Decimal.parse('0.0000070') }, tiers: [] },
      'test',
      march,
    );
    expect(same).toEqual({ version: first.version, previousVersion: undefined, changed: false });

    const manual = await seedCatalog(database.db, [manualPricing()], { execute: true, registerModels: false, now: march });
    expect(manual.sources[0]).toMatchObject({ unchanged: 1, inserted: 8 });
    const cheaper = parseSource('{"nosana": {"deepseek-ai/DeepSeek-R1": {"prompt": "2.50", "completion": "6"}}}', 'cut.json');
    const cut = await seedCatalog(database.db, [cheaper], {
      execute: true,
      registerModels: false,
      now: new Date('2026-04-01T00:00:00Z'),
    });
    expect(cut.sources[0]).toMatchObject({ updated: 1 });
    expect(cut.written).toEqual({ models: 0, versions: 1, closed: 1 });

    const history = await priceHistory(database.db, model);
    expect(history.map((price) => [price.rates.input.toString(), price.effectiveUntil?.toISOString()])).toEqual([
      ['0.000003', '2026-04-01T00:00:00.000Z'],
      ['0.0000025', undefined],
    ]);
    expect((await priceAt(database.db, model, new Date('2026-02-15T00:00:00Z')))!.rates.input.toString()).toBe('0.000003');
    expect((await priceAt(database.db, model, new Date('2026-04-01T00:00:00Z')))!.rates.output.toString()).toBe('0.000006');
    expect(await priceAt(database.db, model, new Date('2025-12-31T00:00:00Z'))).toBeUndefined();
    await expect(
      writePriceVersion(
        database.db,
        model,
        { rates: { input: Decimal.parse('1'), output: Decimal.parse('1') }, tiers: [] },
        'test',
        march,
      ),
    ).rejects.toThrow(/must start after the current version/);
  });
  it('dry-runs a registering seed: reports what it would create and writes nothing', async () => {
    const report = await seedCatalog(database.db, [manualPricing()], { execute: false, registerModels: true });
    expect(report.mode).toBe('dry-run');
    expect(report.sources[0]).toMatchObject({ registered: 174, inserted: 174, skippedZeroPrice: 1, skippedNotInCatalog: 0 });
    expect(report.coverage).toMatchObject({ active: 174, priced: 174, percent: '100.00' });
    expect(report.written).toEqual({ models: 0, versions: 0, closed: 0 });
    expect(await countRows(database)).toEqual({ prices: 0, models: 0 });
  });

  it('holds back a price past the believable limit, reports it, and writes it only with acceptSuspicious', async () => {
    const entry = (modelId: string, input: string): ImportedEntry => ({
      modelId,
      variants: [],
      providerId: 'wandb',
      upstreamModel: modelId,
      modality: 'text',
      rates: { input: Decimal.parse(input), output: Decimal.parse('0.0000012') },
      tiers: [],
    });
    // LiteLLM's wandb/zai-org/GLM-4.5 at 0.055 USD "per token" ($55,000 per 1M): a 107k-token call would cost $8,307.59.
    const source = (): ParsedSource => ({
      format: 'litellm',
      file: 'wandb.json',
      entries: [entry('wandb/zai-org/GLM-4.5', '0.055'), entry('wandb/fine', '0.0000006')],
      errors: [],
      notices: [],
    });
    const held = await seedCatalog(database.db, [source()], { execute: true, registerModels: true });
    expect(held.sources[0]).toMatchObject({ inserted: 1, registered: 1, heldBack: 1 });
    expect(held.sources[0]!.suspicious).toEqual([
      {
        model: 'wandb/zai-org/GLM-4.5',
        reasons: [
          'input is 0.055 USD per token ($55000 per 1M), above the 0.001 limit: most likely a per-1M or per-1K price in a per-token field',
        ],
      },
    ]);
    expect(await priceAt(database.db, 'wandb/zai-org/GLM-4.5')).toBeUndefined();
    const accepted = await seedCatalog(database.db, [source()], { execute: true, registerModels: true, acceptSuspicious: true });
    expect(accepted.sources[0]).toMatchObject({ inserted: 1, heldBack: 0, unchanged: 1 });
    expect((await priceAt(database.db, 'wandb/zai-org/GLM-4.5'))!.rates.input.toString()).toBe('0.055');
  });
});
