import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { detectFormat, importerFor, IMPORTERS, parseSource } from './index.js';
import { parseExactJson } from './exact-json.js';
import { FORMAT_NAMES } from './types.js';

const fixture = (path: string) => readFileSync(new URL(`../../../fixtures/${path}`, import.meta.url), 'utf8');

describe('format detection and parseSource', () => {
  it.each([
    ['seed-formats/llm_pricing_current.json', 'llm-pricing-json'],
    ['seed-formats/manual_pricing.json', 'manual-pricing'],
    ['seed-formats/google_models_config.json', 'google-config'],
    ['litellm/model_prices_slice.json', 'litellm'],
    ['openrouter/models.json', 'openrouter'],
    ['genai-prices/data.json', 'genai-prices'],
    ['portkey/google.json', 'portkey'],
  ])('detects %s as %s', (path, format) => {
    expect(detectFormat(parseExactJson(fixture(path)))).toBe(format);
  });

  it('has one importer per format name', () => {
    expect(IMPORTERS.map((importer) => importer.format).sort()).toEqual([...FORMAT_NAMES].sort());
    for (const name of FORMAT_NAMES) expect(importerFor(name).format).toBe(name);
  });

  it('names the file when the JSON is malformed or the format unknown', () => {
    expect(() => parseSource('{"models": ', 'broken.json')).toThrow(/^broken\.json: malformed JSON/);
    expect(() => parseSource('{"hello": 1}', 'odd.json')).toThrow(
      'odd.json: unknown price file format; name it with --format (one of llm-pricing-json, manual-pricing, google-config, litellm, openrouter, genai-prices, portkey)',
    );
  });

  it('uses a named format even when the shape would detect as another', () => {
    const source = parseSource(fixture('seed-formats/manual_pricing.json'), 'm.json', 'litellm');
    expect(source.format).toBe('litellm');
    expect(source.entries).toEqual([]);
  });
});
