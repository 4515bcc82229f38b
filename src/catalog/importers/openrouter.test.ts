import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExactJson } from './exact-json.js';
import { openrouterImporter } from './openrouter.js';

const document = parseExactJson(readFileSync(new URL('../../../fixtures/openrouter/models.json', import.meta.url), 'utf8'));
const source = openrouterImporter.parse(document, 'models.json');
const entry = (id: string) => source.entries.find((candidate) => candidate.modelId === `openrouter/${id}`)!;

describe('OpenRouter /api/v1/models importer', () => {
  it('imports every fixed-price model (331 of 336) and reports the five "-1" routers', () => {
    expect(source.errors).toEqual([]);
    expect(source.entries).toHaveLength(331);
    expect(source.notices.map((notice) => notice.model).sort()).toEqual([
      'openrouter/auto',
      'openrouter/auto-beta',
      'openrouter/bodybuilder',
      'openrouter/fusion',
      'openrouter/pareto-code',
    ]);
  });

  it('reads the per-token strings exactly: openai/gpt-4o', () => {
    const gpt4o = entry('openai/gpt-4o');
    expect(gpt4o.providerId).toBe('openrouter');
    expect(gpt4o.upstreamModel).toBe('openai/gpt-4o');
    expect(JSON.parse(JSON.stringify(gpt4o.rates))).toEqual({
      input: '0.0000025',
      output: '0.00001',
      cacheRead: '0.00000125',
    });
    expect(gpt4o.contextWindow).toBe(128000);
  });

  it('turns overrides into tiers that start at min_prompt_tokens (stored as above min - 1)', () => {
    const tiered = source.entries.find(
      (candidate) => candidate.tiers.length === 2 && candidate.rates.input?.toString() === '0.00000003',
    )!;
    expect(tiered.tiers.map((tier) => tier.aboveInputTokens)).toEqual([31999, 255999]);
    expect(JSON.parse(JSON.stringify(tiered.tiers[0]!.rates))).toEqual({
      input: '0.0000001',
      output: '0.0000004',
      cacheRead: '0.00000002',
      cacheWrite: '0.000000125',
    });
  });

  it('maps reasoning, audio and cache-write prices', () => {
    const withReasoning = source.entries.filter((candidate) => candidate.rates.reasoning !== undefined);
    const withAudio = source.entries.filter((candidate) => candidate.rates.inputAudio !== undefined);
    expect(withReasoning.length).toBe(19);
    expect(withAudio.length).toBe(21);
    expect(source.entries.filter((candidate) => candidate.rates.cacheWrite !== undefined).length).toBe(58);
  });

  it('refuses a non-numeric price naming the model and field, and is detected', () => {
    expect(openrouterImporter.detect(document)).toBe(true);
    const bad = openrouterImporter.parse(
      parseExactJson('{"data": [{"id": "x/y", "pricing": {"prompt": "abc", "completion": "0.1"}}]}'),
      'or.json',
    );
    expect(bad.errors[0]!.message).toBe('or.json: model x/y, field prompt: not a decimal number (got "abc")');
    expect(bad.entries).toEqual([]);
  });
});
