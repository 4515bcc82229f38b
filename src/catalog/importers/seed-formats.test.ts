import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../money/decimal.js';
import { parseExactJson } from './exact-json.js';
import { googleConfigImporter } from './google-config.js';
import { llmPricingJsonImporter } from './llm-pricing-json.js';
import { manualPricingImporter } from './manual-pricing.js';
import { isZeroPrice } from '../seed-matching.js';

const fixture = (name: string) =>
  parseExactJson(readFileSync(new URL(`../../../fixtures/seed-formats/${name}`, import.meta.url), 'utf8'));

describe('manual_pricing.json (USD per 1M, keyed by gateway)', () => {
  const source = manualPricingImporter.parse(fixture('manual_pricing.json'), 'manual_pricing.json');

  it('reads every gateway model as <gateway>/<model>, converted to USD per token', () => {
    expect(source.errors).toEqual([]);
    expect(source.entries).toHaveLength(175);
    const llama = source.entries.find((entry) => entry.modelId === 'nosana/meta-llama/Llama-3.3-70B-Instruct')!;
    expect(llama.providerId).toBe('nosana');
    expect(llama.upstreamModel).toBe('meta-llama/Llama-3.3-70B-Instruct');
    // The seed's example: $0.90/1M = 9E-7 per token.
    expect(llama.rates.input!.eq(Decimal.parse('9E-7'))).toBe(true);
    expect(llama.rates.output!.toString()).toBe('0.0000009');
    const r1 = source.entries.find((entry) => entry.modelId === 'nosana/deepseek-ai/DeepSeek-R1')!;
    expect(r1.rates.input!.toString()).toBe('0.000003');
    expect(r1.rates.output!.toString()).toBe('0.000007');
  });

  it('is detected and refuses a bad price naming file, model and field', () => {
    expect(manualPricingImporter.detect(fixture('manual_pricing.json'))).toBe(true);
    const bad = manualPricingImporter.parse(
      parseExactJson('{"nosana": {"a": {"prompt": "-1", "completion": "1"}, "b": {"prompt": "1", "completion": "1"}}}'),
      'bad.json',
    );
    expect(bad.entries.map((entry) => entry.modelId)).toEqual(['nosana/b']);
    expect(bad.errors).toHaveLength(1);
    expect(bad.errors[0]!.message).toBe('bad.json: model nosana/a, field prompt: negative price (got "-1")');
  });

  it('reads per_image in USD per image: an image model, and a stated zero is a free model, not a missing price', () => {
    const parsed = manualPricingImporter.parse(
      parseExactJson(
        '{"nosana": {"sdxl": {"prompt": "0", "completion": "0", "per_image": "0"}, "paid": {"prompt": "0", "completion": "0", "per_image": "0.002"}}}',
      ),
      'images.json',
    );
    const [free, paid] = parsed.entries;
    expect(free).toMatchObject({ modelId: 'nosana/sdxl', modality: 'image' });
    expect(free!.rates.perImage!.toString()).toBe('0');
    expect(paid!.rates.perImage!.toString()).toBe('0.002'); // per image, not per 1M
    expect(isZeroPrice(free!)).toBe(false);
    // The seed's own file has no per_image: its zero-priced stable-diffusion stays "zero pricing", as the seed said.
    expect(
      isZeroPrice(source.entries.find((entry) => entry.modelId === 'nosana/stabilityai/stable-diffusion-xl-base-1.0')!),
    ).toBe(true);
  });
});

describe('google_models_config.json (USD per 1K, several providers)', () => {
  const source = googleConfigImporter.parse(fixture('google_models_config.json'), 'google.json');

  it('reads the 12 models with their google-vertex/ and google/ variants', () => {
    expect(source.entries).toHaveLength(12);
    const pro = source.entries.find((entry) => entry.modelId === 'gemini-2.5-pro')!;
    expect(pro.variants).toEqual(['google-vertex/gemini-2.5-pro', 'google/gemini-2.5-pro']);
    // The seed's example: $0.00125/1K = $0.00000125 per token.
    expect(pro.rates.input!.toString()).toBe('0.00000125');
    expect(pro.rates.output!.toString()).toBe('0.00001');
  });

  it('names the provider whose price is invalid', () => {
    const bad = googleConfigImporter.parse(
      parseExactJson(
        '{"models": [{"id": "g", "providers": [{"name": "google-vertex", "model_id": "g", "cost_per_1k_input": "abc", "cost_per_1k_output": "1", "priority": 1}]}]}',
      ),
      'g.json',
    );
    expect(bad.entries).toEqual([]);
    expect(bad.errors[0]!.message).toBe(
      'g.json: model g (google-vertex), field cost_per_1k_input: not a decimal number (got "abc")',
    );
  });
});

describe('llm_pricing_current.json (USD per token, JSON numbers)', () => {
  it('keeps the numbers as written: gpt-4o input 2.5e-06 = 0.0000025 exactly', () => {
    const source = llmPricingJsonImporter.parse(fixture('llm_pricing_current.json'), 'llm.json');
    expect(source.entries).toHaveLength(37);
    const gpt4o = source.entries.find((entry) => entry.modelId === 'gpt-4o')!;
    expect(gpt4o.rates.input!.toString()).toBe('0.0000025');
    expect(gpt4o.rates.cacheRead!.toString()).toBe('0.00000125');
    expect(gpt4o.variants).toEqual(['openai/gpt-4o']);
  });
});
