import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { computeCoverage, percentText } from './coverage.js';
import type { ImportedEntry } from './importers/types.js';
import { readRegisterModels } from './model-registry.js';
import { CatalogMatcher, isZeroPrice } from './seed-matching.js';

const entry = (modelId: string, variants: string[] = []): ImportedEntry => ({
  modelId,
  variants,
  providerId: modelId.split('/')[0]!,
  upstreamModel: modelId,
  modality: 'text',
  rates: { input: Decimal.parse('0.000001'), output: Decimal.parse('0.000002') },
  tiers: [],
});

describe('CatalogMatcher', () => {
  const catalog = new Set([
    'gpt-4o',
    'nosana/openai/whisper-large-v3',
    'deepinfra/meta-llama/Llama-3.3-70B',
    'deepinfra/other-org/Llama-3.3-70B',
    'azure/eu/gpt-4o-mini',
  ]);

  it('matches the own id, then listed variants, then a unique <gateway>/<org>/<name>', () => {
    const matcher = new CatalogMatcher(catalog, new Set());
    expect(matcher.match(entry('gpt-4o'))).toEqual({ kind: 'exact', modelId: 'gpt-4o' });
    expect(matcher.match(entry('openai/gpt-4o', ['gpt-4o']))).toEqual({ kind: 'variant', modelId: 'gpt-4o' });
    expect(matcher.match(entry('nosana/whisper-large-v3'))).toEqual({
      kind: 'variant',
      modelId: 'nosana/openai/whisper-large-v3',
    });
  });

  it('never matches an ambiguous organisation or a substring', () => {
    const matcher = new CatalogMatcher(catalog, new Set());
    expect(matcher.match(entry('deepinfra/Llama-3.3-70B'))).toEqual({ kind: 'none' });
    expect(matcher.match(entry('gpt-4o-mini'))).toEqual({ kind: 'none' });
    expect(matcher.match(entry('nosana/whisper-large'))).toEqual({ kind: 'none' });
    expect(matcher.match(entry('other/whisper-large-v3'))).toEqual({ kind: 'none' });
  });

  it('never takes a model another entry of the run prices under its own id (a regional price)', () => {
    const matcher = new CatalogMatcher(catalog, new Set(['azure/eu/gpt-4o-mini', 'gpt-4o']));
    expect(matcher.match(entry('azure/gpt-4o-mini'))).toEqual({ kind: 'none' });
    expect(matcher.match(entry('openai/gpt-4o', ['gpt-4o']))).toEqual({ kind: 'none' });
    expect(matcher.match(entry('gpt-4o'))).toEqual({ kind: 'exact', modelId: 'gpt-4o' });
  });
});

describe('zero prices and coverage', () => {
  it('treats an entry as zero-priced only when every rate and tier is zero', () => {
    expect(isZeroPrice({ rates: { input: Decimal.ZERO, output: Decimal.parse('0.0') }, tiers: [] })).toBe(true);
    expect(isZeroPrice({ rates: { input: Decimal.parse('0.0000005'), output: Decimal.ZERO }, tiers: [] })).toBe(false);
    expect(isZeroPrice({ rates: { input: Decimal.ZERO }, tiers: [{ rates: { input: Decimal.parse('1E-7') } }] })).toBe(false);
  });

  it('writes the percentage as exact text rounded half-up to two places', () => {
    expect(percentText(9, 10)).toBe('90.00');
    expect(percentText(2, 3)).toBe('66.67');
    expect(percentText(1, 3)).toBe('33.33');
    expect(percentText(1, 8)).toBe('12.50');
    expect(percentText(1, 200000)).toBe('0.00');
    expect(percentText(1, 20000)).toBe('0.01');
    expect(percentText(0, 0)).toBe('0.00');
    expect(computeCoverage(['b', 'a', 'c', 'a'], new Set(['c']))).toEqual({
      active: 3,
      priced: 1,
      percent: '33.33',
      unpriced: ['a', 'b'],
    });
  });

  it('reads catalog_models.json rows and names the bad field', () => {
    expect(
      readRegisterModels(
        { models: [{ id: 'x/y', provider: 'x', upstream_model: 'y', active: true, modality: 'text' }] },
        'c.json',
      ),
    ).toHaveLength(1);
    expect(() =>
      readRegisterModels(
        { models: [{ id: 'x/y', provider: '', upstream_model: 'y', active: true, modality: 'text' }] },
        'c.json',
      ),
    ).toThrow('c.json: models[0]: "provider" must be a non-empty string');
    expect(() =>
      readRegisterModels(
        { models: [{ id: 'x', provider: 'x', upstream_model: 'y', active: 'yes', modality: 'text' }] },
        'c.json',
      ),
    ).toThrow('c.json: models[0]: "active" must be true or false');
    expect(() => readRegisterModels([], 'c.json')).toThrow('c.json: expected {"models": [...]}');
  });
});
