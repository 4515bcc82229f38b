import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExactJson } from './exact-json.js';
import { genaiPricesImporter, parseGenaiPrices } from './genai-prices.js';

const document = parseExactJson(readFileSync(new URL('../../../fixtures/genai-prices/data.json', import.meta.url), 'utf8'));
const source = parseGenaiPrices(document, 'data.json', new Date('2026-11-01T00:00:00Z'));
const entry = (id: string) => source.entries.find((candidate) => candidate.modelId === id)!;
const text = (rates: object) => JSON.parse(JSON.stringify(rates)) as Record<string, string>;

describe('genai-prices data.json importer (USD per 1M)', () => {
  it('imports every model as <provider>/<model>', () => {
    expect(source.errors).toEqual([]);
    expect(source.entries).toHaveLength(1442);
    expect(genaiPricesImporter.detect(document)).toBe(true);
  });

  it('converts $/1M exactly: openai/gpt-4o $2.50/1M = 0.0000025 per token', () => {
    expect(text(entry('openai/gpt-4o').rates)).toEqual({ input: '0.0000025', output: '0.00001', cacheRead: '0.00000125' });
  });

  it('keeps a tier start as is: genai-prices selects a tier when prompt tokens > start', () => {
    const sonnet = entry('anthropic/claude-sonnet-4-5');
    expect(sonnet.tiers).toHaveLength(1);
    expect(sonnet.tiers[0]!.aboveInputTokens).toBe(200000);
    expect(text(sonnet.tiers[0]!.rates)).toEqual({
      input: '0.000006',
      output: '0.0000225',
      cacheRead: '0.0000006',
      cacheWrite: '0.0000075',
    });
  });

  it('takes the dated price in force and notes it', () => {
    // openai/o3: $10/$40 until 2025-06-10, then $2/$8.
    expect(text(entry('openai/o3').rates)).toMatchObject({ input: '0.000002', output: '0.000008' });
    const before = parseGenaiPrices(document, 'data.json', new Date('2025-01-01T00:00:00Z'));
    const o3Before = before.entries.find((candidate) => candidate.modelId === 'openai/o3')!;
    expect(text(o3Before.rates)).toMatchObject({ input: '0.00001', output: '0.00004' });
    expect(source.notices.find((notice) => notice.model === 'openai/o3')!.message).toBe(
      '2 dated prices; imported the one from 2025-06-10',
    );
  });

  it('reads requests_kcount as USD per 1,000 requests and refuses Infinity', () => {
    const parsed = parseGenaiPrices(
      parseExactJson(
        '[{"id": "p", "models": [{"id": "a", "prices": {"requests_kcount": 5, "input_mtok": 1}}, {"id": "b", "prices": {"input_mtok": "Infinity"}}]}]',
      ),
      'g.json',
      new Date(),
    );
    expect(text(parsed.entries[0]!.rates)).toEqual({ perRequest: '0.005', input: '0.000001' });
    expect(parsed.errors[0]!.message).toBe('g.json: model p/b, field input_mtok: not a finite number (got "Infinity")');
  });
});
