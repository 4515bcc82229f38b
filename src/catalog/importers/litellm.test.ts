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

  it('skips sample_spec and reports nothing for a slice whose every entry has a price', () => {
    expect(source.entries.some((candidate) => candidate.modelId === 'sample_spec')).toBe(false);
    expect(source.notices).toEqual([]);
    expect(source.errors).toEqual([]);
    expect(source.zeroIsFree).toBe(true);
  });

  it('folds per-pixel prices by size into per-image rates of the model, exactly (1024-x-1024/dall-e-2 -> dall-e-2)', () => {
    const dallE2 = entry('dall-e-2');
    expect(dallE2).toMatchObject({ providerId: 'openai', upstreamModel: 'dall-e-2', modality: 'image', rates: {} });
    // 1.9e-8 per pixel x 1,048,576 pixels.
    expect(text(dallE2.imageRates!)).toEqual([{ size: '1024x1024', rate: '0.019922944' }]);
  });

  describe('the rate kinds of other models (the API-surface slice)', () => {
    const api = litellmImporter.parse(
      parseExactJson(readFileSync(new URL('../../../fixtures/litellm/api-surface-slice.json', import.meta.url), 'utf8')),
      'api.json',
    );
    const find = (id: string) => api.entries.find((candidate) => candidate.modelId === id)!;

    it('prices a transcription model per second of audio: whisper-1 at input_cost_per_second 0.0001', () => {
      expect(text(find('whisper-1').rates)).toEqual({ audioSecond: '0.0001' });
      expect(find('whisper-1').modality).toBe('audio');
      // Priced per token where the source says so.
      expect(text(find('gpt-4o-transcribe').rates)).toMatchObject({
        input: '0.0000025',
        inputAudio: '0.000006',
        output: '0.00001',
      });
    });

    it('gives dall-e-3 its six prices by size and quality, and gpt-image-1 its bare price at 1024x1024 as well', () => {
      expect(text(find('dall-e-3').imageRates!)).toEqual([
        { size: '1024x1024', quality: 'hd', rate: '0.07999586304' },
        { size: '1024x1024', quality: 'standard', rate: '0.0399999238144' },
        { size: '1024x1792', quality: 'hd', rate: '0.11999117312' },
        { size: '1024x1792', quality: 'standard', rate: '0.07998799872' },
        { size: '1792x1024', quality: 'hd', rate: '0.11999117312' },
        { size: '1792x1024', quality: 'standard', rate: '0.07998799872' },
      ]);
      const gptImage = find('gpt-image-1');
      expect(gptImage.rates.perImage!.toString()).toBe('0.041999999696896'); // 4.0054321e-8 x 1024 x 1024
      expect(gptImage.imageRates).toHaveLength(9);
      expect(api.entries.some((candidate) => candidate.modelId.includes('-x-'))).toBe(false);
    });
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
