import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExactJson } from './exact-json.js';
import { litellmImporter } from './litellm.js';

const slice = parseExactJson(readFileSync(new URL('../../../fixtures/litellm/model_prices_slice.json', import.meta.url), 'utf8'));
const source = litellmImporter.parse(slice, 'litellm.json');
const entry = (id: string) => source.entries.find((candidate) => candidate.modelId === id)!;
const text = (rates: object) => JSON.parse(JSON.stringify(rates)) as Record<string, string>;

describe('LiteLLM model map importer', () => {
  it('reads gpt-4o exactly: input 0.0000025 per token, cache read, limits, provider', () => {
    const gpt4o = entry('gpt-4o');
    expect(text(gpt4o.rates)).toEqual({ input: '0.0000025', output: '0.00001', cacheRead: '0.00000125' });
    expect(gpt4o.providerId).toBe('openai');
    expect(gpt4o.contextWindow).toBe(128000);
    expect(gpt4o.maxOutputTokens).toBe(16384);
    expect(gpt4o.modality).toBe('text');
  });

  it('turns *_above_200k_tokens fields into a tier above 200,000 prompt tokens', () => {
    const sonnet = entry('claude-sonnet-4-5');
    expect(text(sonnet.rates)).toEqual({
      input: '0.000003',
      output: '0.000015',
      cacheRead: '0.0000003',
      cacheWrite: '0.00000375',
    });
    expect(sonnet.tiers).toHaveLength(1);
    expect(sonnet.tiers[0]!.aboveInputTokens).toBe(200000);
    expect(text(sonnet.tiers[0]!.rates)).toEqual({
      input: '0.000006',
      output: '0.0000225',
      cacheRead: '0.0000006',
      cacheWrite: '0.0000075',
    });
  });

  it('maps 1-hour cache writes, reasoning, audio, per-request and per-image prices', () => {
    expect(entry('claude-opus-4-1').rates.cacheWrite1h!.toString()).toBe('0.00003');
    expect(entry('gemini-2.5-flash').rates.reasoning!.toString()).toBe('0.0000025');
    expect(text(entry('gpt-4o-audio-preview').rates)).toMatchObject({ inputAudio: '0.0001', outputAudio: '0.0002' });
    expect(entry('perplexity/sonar-medium-online').rates.perRequest!.toString()).toBe('0.005');
    expect(entry('gemini-2.5-flash-image').rates.perImage!.toString()).toBe('0.039');
  });

  it('reads tiered_pricing ranges: the range from 0 is the base, each other range a tier above its start', () => {
    const qwen = entry('dashscope/qwen3-max-preview');
    expect(text(qwen.rates)).toEqual({ input: '0.0000012', output: '0.000006' });
    expect(qwen.tiers.map((tier) => [tier.aboveInputTokens, text(tier.rates)])).toEqual([
      [32000, { input: '0.0000024', output: '0.000012' }],
      [128000, { input: '0.000003', output: '0.000015' }],
    ]);
  });

  it('uses the key as the catalog id and strips the provider for the upstream name', () => {
    const flash = entry('gemini/gemini-2.5-flash');
    expect(flash.providerId).toBe('gemini');
    expect(flash.upstreamModel).toBe('gemini-2.5-flash');
    expect(entry('gemini-2.5-flash').providerId).toBe('vertex_ai-language-models');
  });

  it('skips sample_spec and reports entries without a per-token price as notices', () => {
    expect(source.entries.some((candidate) => candidate.modelId === 'sample_spec')).toBe(false);
    expect(source.notices).toEqual([
      {
        file: 'litellm.json',
        model: '1024-x-1024/dall-e-2',
        message: 'no per-token price (only input_cost_per_pixel, output_cost_per_pixel)',
      },
    ]);
    expect(source.errors).toEqual([]);
    expect(source.zeroIsFree).toBe(true);
  });

  it.each([
    ['-0.000001', 'negative price'],
    ['NaN', 'not a finite number'],
    ['"abc"', 'not a decimal number'],
    ['"Infinity"', 'not a finite number'],
  ])('refuses input_cost_per_token %s naming file, model and field', (value, reason) => {
    const document = parseExactJson(
      `{"bad": {"litellm_provider": "openai", "input_cost_per_token": ${value === 'NaN' ? '"NaN"' : value}, "output_cost_per_token": 1e-6}, ` +
        '"good": {"litellm_provider": "openai", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}',
    );
    const parsed = litellmImporter.parse(document, 'map.json');
    expect(parsed.entries.map((candidate) => candidate.modelId)).toEqual(['good']);
    expect(parsed.errors).toHaveLength(1);
    expect(parsed.errors[0]!.message).toMatch(new RegExp(`^map\\.json: model bad, field input_cost_per_token: ${reason}`));
  });
});
