import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExactJson } from './exact-json.js';
import { parseSource } from './index.js';
import { parsePortkey, portkeyImporter } from './portkey.js';

const text = (name: string) => readFileSync(new URL(`../../../fixtures/portkey/${name}`, import.meta.url), 'utf8');

describe('Portkey pricing importer (US cents per token)', () => {
  it('converts cents: gpt-4o 0.00025 cents/token = 0.0000025 USD/token, catalog id openai/gpt-4o', () => {
    const source = parseSource(text('openai.json'), 'pricing/openai.json');
    expect(source.format).toBe('portkey');
    const gpt4o = source.entries.find((entry) => entry.modelId === 'openai/gpt-4o')!;
    expect(gpt4o.variants).toEqual(['gpt-4o']);
    expect(gpt4o.providerId).toBe('openai');
    expect(gpt4o.rates.input!.toString()).toBe('0.0000025');
    expect(gpt4o.rates.output!.toString()).toBe('0.00001');
    expect(gpt4o.rates.cacheRead!.toString()).toBe('0.00000125');
    expect(source.errors).toEqual([]);
  });

  it('reads Anthropic cache writes including the 1-hour one', () => {
    const source = parsePortkey(parseExactJson(text('anthropic.json')), 'anthropic.json', 'anthropic');
    const sonnet = source.entries.find((entry) => entry.modelId === 'anthropic/claude-sonnet-4-5')!;
    expect(JSON.parse(JSON.stringify(sonnet.rates))).toEqual({
      input: '0.000003',
      output: '0.000015',
      cacheRead: '0.0000003',
      cacheWrite: '0.00000375',
      cacheWrite1h: '0.000006',
    });
  });

  it('refuses a negative price naming file, model and field', () => {
    const bad = portkeyImporter.parse(
      parseExactJson(
        '{"default": {"pricing_config": {}}, "m": {"pricing_config": {"pay_as_you_go": {"request_token": {"price": -0.1}, "response_token": {"price": 0.1}}}}}',
      ),
      'pricing/acme.json',
    );
    expect(bad.errors[0]!.message).toBe('pricing/acme.json: model acme/m, field request_token: negative price (got -0.1)');
  });
});

describe('Portkey long-context pairs', () => {
  const source = parseSource(text('google.json'), 'pricing/google.json');

  it('merges <model>-lte-128k and <model>-gt-128k into one entry with a tier above 128,000 tokens', () => {
    const pro = source.entries.find((entry) => entry.modelId === 'google/gemini-2.5-pro')!;
    expect(pro.variants).toEqual(['gemini-2.5-pro']);
    expect(JSON.parse(JSON.stringify(pro.rates))).toEqual({ input: '0.00000125', output: '0.00001', cacheRead: '0.000000125' });
    expect(pro.tiers).toHaveLength(1);
    expect(pro.tiers[0]!.aboveInputTokens).toBe(128000);
    expect(JSON.parse(JSON.stringify(pro.tiers[0]!.rates))).toEqual({
      input: '0.0000025',
      output: '0.000015',
      cacheRead: '0.00000025',
    });
    // The suffixed names stay importable as Portkey spells them.
    expect(source.entries.some((entry) => entry.modelId === 'google/gemini-2.5-pro-gt-128k')).toBe(true);
  });

  it('does not merge a model listed at two thresholds, and says so', () => {
    expect(source.entries.some((entry) => entry.modelId === 'google/gemini-3.1-pro-preview')).toBe(false);
    expect(source.notices.map((notice) => notice.model)).toEqual([
      'google/gemini-3.1-pro-preview',
      'google/gemini-3.1-pro-preview-customtools',
    ]);
  });
});
