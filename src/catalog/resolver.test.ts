import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import type { ModelPrice } from '../pricing/types.js';
import {
  CatalogSnapshot,
  prefixVariants,
  priceAt,
  resolveIn,
  snapshotFromEntries,
  stripSnapshotSuffix,
  type SnapshotModel,
} from './resolver.js';

function price(modelId: string, input: string, from?: string, until?: string): ModelPrice {
  return {
    version: 1,
    modelId,
    rates: { input: Decimal.parse(input), output: Decimal.parse(input).times(4) },
    tiers: [],
    effectiveFrom: from ? new Date(from) : undefined,
    effectiveUntil: until ? new Date(until) : undefined,
    source: 'test',
  };
}

function model(id: string, providerId: string, input = '1e-6'): SnapshotModel {
  const upstreamModel = id.startsWith(`${providerId}/`) ? id.slice(providerId.length + 1) : id;
  return {
    id,
    providerId,
    upstreamModel,
    active: true,
    modality: 'text',
    contextWindow: undefined,
    maxOutputTokens: undefined,
    prices: [price(id, input)],
  };
}

const snapshot = CatalogSnapshot.build({
  source: 'database',
  models: [
    model('gpt-4o', 'openai', '2.5e-6'),
    model('gpt-4o-mini', 'openai', '1.5e-7'),
    model('o3-mini', 'openai', '1.1e-6'),
    model('claude-3-5-sonnet-v2', 'anthropic', '3e-6'),
    model('anthropic/claude-sonnet-4-5', 'anthropic', '3e-6'),
    model('nosana/openai/whisper-large-v3', 'nosana'),
    model('openai/gpt-4.1', 'openai', '2e-6'),
    model('azure/gpt-4.1', 'azure', '2.2e-6'),
    model('together/llama-x', 'together'),
    model('groq/llama-x', 'groq'),
    model('anthropic/claude-3-5-haiku-latest', 'anthropic', '8e-7'),
    model('gpt-4o-2024-05-13', 'openai', '5e-6'),
  ],
  aliases: [{ alias: 'fast', modelId: 'gpt-4o-mini' }],
});

const now = Date.parse('2026-01-01T00:00:00Z');
const resolved = (name: string) => {
  const resolution = resolveIn(snapshot, name, now);
  return resolution && `${resolution.modelId} ${resolution.match}`;
};

describe('resolution order', () => {
  it.each([
    ['gpt-4o', 'gpt-4o exact'],
    ['fast', 'gpt-4o-mini alias'],
    ['GPT-4o', 'gpt-4o case'],
    ['FAST', 'gpt-4o-mini case'],
    ['openai/gpt-4o', 'gpt-4o prefix'],
    ['openai/gpt-4o-mini', 'gpt-4o-mini prefix'],
    ['claude-sonnet-4-5', 'anthropic/claude-sonnet-4-5 prefix'],
    ['nosana/whisper-large-v3', 'nosana/openai/whisper-large-v3 prefix'],
    ['gpt-4.1', 'openai/gpt-4.1 prefix'],
    ['gpt-4o-2024-11-20', 'gpt-4o snapshot'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini snapshot'],
    ['claude-sonnet-4-5-20250929', 'anthropic/claude-sonnet-4-5 snapshot'],
    ['anthropic/claude-sonnet-4-5@20250929', 'anthropic/claude-sonnet-4-5 snapshot'],
    ['anthropic/claude-sonnet-4-5-20250929-v1:0', 'anthropic/claude-sonnet-4-5 snapshot'],
    ['o3-mini-latest', 'o3-mini snapshot'],
    ['openai/gpt-4o-2024-08-06', 'gpt-4o snapshot'],
    ['claude-3-5-haiku-20241022', 'anthropic/claude-3-5-haiku-latest snapshot'],
    ['anthropic/claude-3-5-haiku-20241022', 'anthropic/claude-3-5-haiku-latest snapshot'],
    ['gpt-4o-2024-05-13', 'gpt-4o-2024-05-13 exact'],
  ])('%s -> %s', (name, expected) => {
    expect(resolved(name)).toBe(expected);
  });

  it('names the snapshot source and the price of the model it found', () => {
    const resolution = resolveIn(snapshot, 'openai/gpt-4o', now)!;
    expect(resolution.source).toBe('database');
    expect(resolution.providerId).toBe('openai');
    expect(resolution.price.rates.input.toString()).toBe('0.0000025');
  });
});

describe('never a loose match (the seed priced gpt-4o-mini as gpt-4o through a partial match)', () => {
  it.each([
    ['o3', 'o3-mini exists'],
    ['gpt-4', 'gpt-4o exists'],
    ['gpt-4o-mini-audio', 'gpt-4o-mini exists'],
    ['claude-3-5-sonnet', 'only claude-3-5-sonnet-v2 exists'],
    ['gpt-4o-2024-13-45', 'not a real date'],
    ['gpt-4o-20241399', 'not a real date'],
    ['gpt-4o-1399', 'not a real month and day'],
    ['gpt-4o-v2', 'a bare -v2 is another model, not a version suffix'],
    ['gpt-4o-preview', 'not a snapshot suffix'],
    ['groq/whisper-large-v3', 'another gateway: variants never match variants'],
    ['llama-x', 'ambiguous between two gateways with no owner'],
    ['4o', 'a substring'],
    ['claude-3-5-haiku-extended', 'only a dated snapshot of a -latest family gets its price'],
  ])('%s resolves to nothing (%s)', (name) => {
    expect(resolved(name)).toBeUndefined();
  });

  it('gpt-4o-mini gets its own price, never gpt-4o', () => {
    expect(resolveIn(snapshot, 'gpt-4o-mini', now)!.price.rates.input.toString()).toBe('0.00000015');
    expect(resolveIn(snapshot, 'GPT-4O-MINI-2024-07-18', now)!.modelId).toBe('gpt-4o-mini');
  });

  it('an ambiguous bare name goes to the provider the name belongs to', () => {
    expect(resolveIn(snapshot, 'gpt-4.1', now)!.price.rates.input.toString()).toBe('0.000002');
  });
});

describe('stripSnapshotSuffix', () => {
  it.each([
    ['gpt-4o-2024-11-20', 'gpt-4o'],
    ['claude-sonnet-4-20250514', 'claude-sonnet-4'],
    ['claude-3-5-sonnet-v2@20241022', 'claude-3-5-sonnet-v2'],
    ['anthropic.claude-3-haiku-20240307-v1:0', 'anthropic.claude-3-haiku-20240307'],
    ['gpt-4-0613', 'gpt-4'],
    ['gemini-2.0-flash-001', 'gemini-2.0-flash'],
    ['chatgpt-4o-latest', 'chatgpt-4o'],
  ])('%s -> %s', (name, expected) => {
    expect(stripSnapshotSuffix(name)).toBe(expected);
  });

  it.each(['gpt-4o', 'o3', 'claude-3-5-sonnet-v2', 'mistral-large-2411', 'qwen3-2507', 'gpt-4o-20240230', '20240513'])(
    '%s keeps its name',
    (name) => {
      expect(stripSnapshotSuffix(name)).toBeUndefined();
    },
  );
});

describe('prefixVariants', () => {
  it('drops leading segments and the organisation in the middle', () => {
    expect(prefixVariants('nosana/openai/whisper-large-v3')).toEqual([
      'nosana/whisper-large-v3',
      'openai/whisper-large-v3',
      'whisper-large-v3',
    ]);
    expect(prefixVariants('openai/gpt-4o')).toEqual(['gpt-4o']);
    expect(prefixVariants('gpt-4o')).toEqual([]);
    expect(prefixVariants('/gpt-4o')).toEqual([]);
  });
});

describe('price versions', () => {
  const versioned: SnapshotModel = {
    ...model('gpt-4o', 'openai'),
    prices: [
      price('gpt-4o', '2.5e-6', '2025-01-01T00:00:00Z'),
      price('gpt-4o', '5e-6', '2024-01-01T00:00:00Z', '2025-01-01T00:00:00Z'),
    ],
  };
  const history = CatalogSnapshot.build({ source: 'database', models: [versioned], aliases: [] });

  it('answers for a past time with the version then in force', () => {
    expect(priceAt(versioned, Date.parse('2024-06-01T00:00:00Z'))!.rates.input.toString()).toBe('0.000005');
    expect(priceAt(versioned, Date.parse('2025-01-01T00:00:00Z'))!.rates.input.toString()).toBe('0.0000025');
    expect(resolveIn(history, 'gpt-4o', Date.parse('2026-03-01T00:00:00Z'))!.price.rates.input.toString()).toBe('0.0000025');
  });

  it('has no price before the first version', () => {
    expect(resolveIn(history, 'gpt-4o', Date.parse('2023-06-01T00:00:00Z'))).toBeUndefined();
  });
});

describe('snapshotFromEntries', () => {
  it('turns imported entries into priced models whose variants are aliases', () => {
    const fromFile = snapshotFromEntries(
      [
        {
          modelId: 'grok-3',
          variants: ['xai/grok-3'],
          providerId: 'xai',
          upstreamModel: 'grok-3',
          modality: 'text',
          rates: { perImage: Decimal.parse('0.04') },
          tiers: [],
        },
      ],
      'json',
      'file:test.json',
    );
    const resolution = resolveIn(fromFile, 'xai/grok-3', now)!;
    expect(resolution.match).toBe('alias');
    expect(resolution.source).toBe('json');
    expect(resolution.price.rates.input.toString()).toBe('0');
    expect(resolution.price.rates.perImage!.toString()).toBe('0.04');
    expect(resolution.price.version).toBeUndefined();
  });
});
