import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTollgate } from './support/cli-process.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => path.join(root, 'fixtures/seed-formats', name);
let dataDirectory: string;

/** Runs `tollgate <args>` as a user would, in its own process on its own PGlite data directory. */
const tollgate = (...args: string[]) => runTollgate(dataDirectory, ...args);

describe('tollgate catalog commands', () => {
  beforeAll(() => {
    dataDirectory = mkdtempSync(path.join(os.tmpdir(), 'tollgate-catalog-cli-'));
  });
  afterAll(() => {
    rmSync(dataDirectory, { recursive: true, force: true });
  });

  it("runs the seed's story from the command line", async () => {
    const imported = await tollgate('catalog', 'models', 'import', fixture('catalog_models.json'), '--json');
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ inserted: 10, unchanged: 0 });

    const dryRun = await tollgate('catalog', 'seed', fixture('manual_pricing.json'));
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('variant: nosana/whisper-large-v3 -> nosana/openai/whisper-large-v3');
    expect(dryRun.stdout).toContain('dry run: nothing written');
    expect(dryRun.stdout).not.toContain('seeding ['); // no progress bar when piped

    const executed = await tollgate('catalog', 'seed', fixture('manual_pricing.json'), '--execute', '--json');
    expect(executed.code).toBe(0);
    const report = JSON.parse(executed.stdout);
    expect(report.sources[0]).toMatchObject({ inserted: 9, skippedZeroPrice: 1, skippedNotInCatalog: 165 });
    expect(report.coverage).toMatchObject({ active: 10, priced: 9, percent: '90.00' });

    const again = JSON.parse((await tollgate('catalog', 'seed', fixture('manual_pricing.json'), '--execute', '--json')).stdout);
    expect(again.sources[0]).toMatchObject({ inserted: 0, updated: 0, unchanged: 9 });
    expect(again.written).toEqual({ models: 0, versions: 0, closed: 0 });

    const coverage = await tollgate('catalog', 'coverage');
    expect(coverage.code).toBe(1);
    expect(coverage.stdout).toContain('coverage: 9 of 10 active models priced (90.00%)');
    expect(coverage.stdout).toContain('unpriced: nosana/stabilityai/stable-diffusion-xl-base-1.0');
  });

  it('prints a price with exact rates, its source and version', async () => {
    const price = await tollgate('catalog', 'price', 'nosana/meta-llama/Llama-3.3-70B-Instruct', '--json');
    expect(price.code).toBe(0);
    const body = JSON.parse(price.stdout);
    expect(body).toMatchObject({
      modelId: 'nosana/meta-llama/Llama-3.3-70B-Instruct',
      source: 'manual-pricing:manual_pricing.json',
      rates: { input: '0.0000009', output: '0.0000009' },
      effectiveUntil: null,
    });
    expect(typeof body.version).toBe('number');
    const before = await tollgate('catalog', 'price', 'nosana/meta-llama/Llama-3.3-70B-Instruct', '--at', '2020-01-01T00:00:00Z');
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('no price for nosana/meta-llama/Llama-3.3-70B-Instruct at 2020-01-01T00:00:00.000Z');
    expect((await tollgate('catalog', 'price', 'x', '--at', 'yesterday')).code).toBe(2);
  });

  it('exits 1 when an entry has an error, 2 for unreadable files or unknown formats', async () => {
    const bad = path.join(dataDirectory, 'bad.json');
    writeFileSync(bad, '{"nosana": {"meta-llama/Llama-3.1-8B-Instruct": {"prompt": "-1", "completion": "1"}}}');
    const seeded = await tollgate('catalog', 'seed', bad);
    expect(seeded.code).toBe(1);
    expect(seeded.stdout).toContain(
      `error: ${bad}: model nosana/meta-llama/Llama-3.1-8B-Instruct, field prompt: negative price (got "-1")`,
    );
    expect((await tollgate('catalog', 'seed', path.join(dataDirectory, 'missing.json'))).code).toBe(2);
    const format = await tollgate('catalog', 'seed', '--format', 'csv', fixture('manual_pricing.json'));
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('unknown format "csv"');
    expect((await tollgate('catalog', 'seed', '--dry-run', '--execute', fixture('manual_pricing.json'))).code).toBe(2);
  });

  it('validates files with exit 0 or 1 and one line per problem', async () => {
    const valid = await tollgate('catalog', 'validate', fixture('llm_pricing_current.json'));
    expect(valid.code).toBe(0);
    expect(valid.stdout).toBe('valid: 1 file(s), 37 priced models, 0 problem(s)\n');
    const invalid = await tollgate(
      'catalog',
      'validate',
      fixture('manual_pricing.json'),
      '--critical',
      'gpt-4o,nosana/whisper-large-v3',
    );
    expect(invalid.code).toBe(1);
    expect(invalid.stdout.trim().split('\n')).toEqual([
      `error ${fixture('manual_pricing.json')}: model gpt-4o: critical model gpt-4o is not priced`,
      'invalid: 1 file(s), 175 priced models, 1 problem(s)',
    ]);
  });

  it('resolves names in catalog price and cost as a call would, with the time-of-day window in force at --at', async () => {
    const data = path.join(root, 'fixtures/genai-prices/package-data.json');
    const seeded = await tollgate(
      'catalog',
      'seed',
      data,
      '--format',
      'genai-prices',
      '--register-models',
      '--execute',
      '--json',
    );
    expect(seeded.code).toBe(0);
    const byName = async (name: string) => JSON.parse((await tollgate('catalog', 'price', name, '--json')).stdout);
    expect(await byName('openai/gpt-4o')).toMatchObject({ modelId: 'openai/gpt-4o', match: 'exact', catalog: 'database' });
    expect(await byName('GPT-4o')).toMatchObject({ modelId: 'openai/gpt-4o', providerId: 'openai' });
    expect(await byName('gemini-2.5-flash-preview-tts')).toMatchObject({
      modelId: 'google/gemini-2.5-flash-tts',
      match: 'alias',
      rule: '{"equals":"gemini-2.5-flash-preview-tts"}',
    });

    const standard = JSON.parse(
      (await tollgate('catalog', 'price', 'deepseek-reasoner', '--at', '2030-01-02T10:00:00Z', '--json')).stdout,
    );
    expect(standard).toMatchObject({ modelId: 'deepseek/deepseek-reasoner', windowInForce: '00:30:00-16:30:00 UTC' });
    expect(standard.windows).toEqual([
      {
        from: '00:30:00',
        until: '16:30:00',
        rates: { input: '0.00000055', output: '0.00000219', cacheRead: '0.00000014' },
        tiers: [],
      },
    ]);
    const human = await tollgate('catalog', 'price', 'deepseek-reasoner', '--at', '2030-01-02T20:00:00Z');
    expect(human.stdout).toContain('base rates (no window)');
    expect(human.stdout).toContain('from 00:30:00-16:30:00 UTC:');

    const costAt = async (time: string) =>
      JSON.parse(
        (await tollgate('cost', 'deepseek-reasoner', '--input', '100000', '--output', '10000', '--at', time, '--json')).stdout,
      );
    expect((await costAt('2030-01-02T10:00:00Z')).breakdown).toMatchObject({
      providerCost: '0.0769',
      window: '00:30:00-16:30:00 UTC',
    });
    expect((await costAt('2030-01-02T20:00:00Z')).breakdown.providerCost).toBe('0.019');
    expect((await tollgate('cost', 'deepseek-reasoner', '--input', '1', '--output', '1', '--at', 'noon')).code).toBe(2);
  });

  it('holds back a suspicious price in catalog seed unless --accept-suspicious', async () => {
    const file = path.join(dataDirectory, 'wandb.json');
    writeFileSync(
      file,
      JSON.stringify({
        'wandb/zai-org/GLM-4.5': {
          input_cost_per_token: 0.055,
          output_cost_per_token: 0.2,
          litellm_provider: 'wandb',
          mode: 'chat',
        },
      }),
    );
    const held = await tollgate('catalog', 'seed', file, '--register-models', '--execute');
    expect(held.code).toBe(1);
    expect(held.stdout).toContain('held back: wandb/zai-org/GLM-4.5: input is 0.055 USD per token ($55000 per 1M)');
    const json = JSON.parse((await tollgate('catalog', 'seed', file, '--register-models', '--json')).stdout);
    expect(json.sources[0]).toMatchObject({ heldBack: 1, suspicious: [{ model: 'wandb/zai-org/GLM-4.5' }] });
    const accepted = await tollgate('catalog', 'seed', file, '--register-models', '--execute', '--accept-suspicious');
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain('accepted: wandb/zai-org/GLM-4.5');
  });

  it("shows an image model's rates by size and quality in catalog price, as /v1/models lists them", async () => {
    const seeded = await tollgate(
      'catalog',
      'seed',
      path.join(root, 'fixtures/litellm/api-surface-slice.json'),
      '--register-models',
      '--execute',
    );
    expect(seeded.code).toBe(0);
    const json = await tollgate('catalog', 'price', 'dall-e-3', '--json');
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout);
    expect(body.modelId).toBe('dall-e-3');
    // LiteLLM prices dall-e-3 per pixel: the six sizes and qualities, folded into the model's per-image rates.
    expect(body.imageRates).toHaveLength(6);
    expect(body.imageRates).toContainEqual({ size: '1024x1792', quality: 'hd', rate: '0.11999117312' });
    const text = await tollgate('catalog', 'price', 'dall-e-3');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('image rates (USD per image, by size and quality):');
    expect(text.stdout).toMatch(/ {2}1024x1792 +hd +0\.11999117312\n/);
    for (const rate of body.imageRates as Array<{ size: string; quality?: string; rate: string }>)
      expect(text.stdout).toMatch(new RegExp(`${rate.size} +${rate.quality ?? '-'} +${rate.rate.replace('.', '\\.')}\n`));
  });
});
