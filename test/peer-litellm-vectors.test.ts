import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExactJson } from '../src/catalog/importers/exact-json.js';
import { litellmImporter } from '../src/catalog/importers/litellm.js';
import { resolveIn, snapshotFromEntries } from '../src/catalog/resolver.js';
import { Decimal } from '../src/money/decimal.js';
import { priceUsage } from '../src/pricing/cost.js';
import type { BreakdownLine, NormalizedUsage } from '../src/pricing/types.js';
import { emptyUsage, usageFromTotals } from '../src/pricing/usage.js';

/**
 * LiteLLM's own cost cases (hand-copied from its tests into litellm_cost_test_vectors.json), priced with the
 * LiteLLM map imported by our importer and compared as exact decimals, not with LiteLLM's float tolerance.
 */
const read = (name: string) => readFileSync(new URL(`../fixtures/litellm/tests/${name}`, import.meta.url), 'utf8');
const vectors = parseExactJson(read('litellm_cost_test_vectors.json')) as { cases: Vector[] };
const parsed = litellmImporter.parse(parseExactJson(read('model_prices_vectors_slice.json')), 'model_prices_vectors_slice.json');
const snapshot = snapshotFromEntries(parsed.entries, 'json', 'litellm');

interface Vector {
  id: unknown;
  model: string;
  prompt_tokens: unknown;
  cached_read_tokens: unknown;
  cache_creation_tokens: unknown;
  completion_tokens: unknown;
  expected_total?: unknown;
  computed_prompt?: unknown;
  duration_seconds?: unknown;
  computed_completion?: unknown;
  expected_prompt_rounded?: unknown;
  expected_completion_rounded?: unknown;
}

const number = (value: unknown) => Number(String(value));
const decimal = (value: unknown) => Decimal.parse(String(value));

/** Cases whose price our catalog does not model, with the reason; every other case must match exactly. */
const NOT_MODELLED: Record<number, string> = {
  7: 'OpenAI flex service tier: the catalog holds one rate per component, not per service tier',
};

/** The usage each case describes (its notes say how the tokens split). */
function usageOf(vector: Vector): NormalizedUsage {
  const id = number(vector.id);
  if (id === 9) return withInput({ audio: 14 }, 45); // every prompt token is audio (transcription)
  if (id === 10) return withSeconds(number(vector.duration_seconds)); // a transcription priced per second of audio
  if (id === 11) return withInput({ uncached: 10, audio: 90 }, 100);
  if (id === 12) return withInput({ cacheWrite: 56, cacheWrite1h: 13_999 }, 0); // 5-minute and 1-hour writes
  return usageFromTotals({
    input: number(vector.prompt_tokens),
    output: number(vector.completion_tokens),
    cached: number(vector.cached_read_tokens),
    cacheWrite: number(vector.cache_creation_tokens),
    reasoning: id === 2 ? 1908 : 0, // inside completion_tokens, priced at the output rate
  });
}

function withSeconds(seconds: number): NormalizedUsage {
  const usage = emptyUsage();
  usage.audioSeconds = seconds;
  return usage;
}

function withInput(input: Partial<NormalizedUsage['input']>, output: number): NormalizedUsage {
  const usage = emptyUsage();
  Object.assign(usage.input, input);
  usage.output.text = output;
  return usage;
}

const PROMPT = new Set<BreakdownLine['component']>([
  'input',
  'cache_read',
  'cache_write',
  'cache_write_1h',
  'input_audio',
  'audio_second',
]);

describe('peer check: LiteLLM cost test vectors', () => {
  it('has all twelve cases and prices every model from the imported map', () => {
    expect(vectors.cases).toHaveLength(12);
    expect(parsed.errors).toEqual([]);
  });

  for (const vector of vectors.cases) {
    const id = number(vector.id);
    // Case 12 names explicit rates: those of claude-3-5-sonnet-20240620 (cache write 5m 3.75e-06, 1h 6e-06).
    const model = id === 12 ? 'claude-3-5-sonnet-20240620' : vector.model;
    it(`case ${id}: ${model}`, (context) => {
      if (NOT_MODELLED[id]) context.skip(NOT_MODELLED[id]);
      const resolution = resolveIn(snapshot, model, Date.now());
      expect(resolution?.match).toBe('exact');
      const breakdown = priceUsage(usageOf(vector), resolution!.price);
      if (vector.expected_total !== undefined)
        expect(breakdown.providerCost.toString()).toBe(decimal(vector.expected_total).toString());
      if (vector.computed_prompt !== undefined) {
        const prompt = Decimal.sum(breakdown.lines.filter((line) => PROMPT.has(line.component)).map((line) => line.amount));
        const completion = breakdown.providerCost.sub(prompt);
        expect(prompt.toString()).toBe(decimal(vector.computed_prompt).toString());
        expect(completion.toString()).toBe(decimal(vector.computed_completion).toString());
        // LiteLLM's test asserts these rounded values (round(prompt, 3), round(completion, 5)).
        expect(prompt.round(3, 'half-even').toString()).toBe(decimal(vector.expected_prompt_rounded).toString());
        if (vector.expected_completion_rounded !== undefined) {
          expect(completion.round(5, 'half-even').toString()).toBe(decimal(vector.expected_completion_rounded).toString());
        }
      }
    });
  }

  it('prices case 3 above 200k prompt tokens at the long-context tier', () => {
    const vector = vectors.cases.find((candidate) => number(candidate.id) === 3)!;
    const breakdown = priceUsage(usageOf(vector), resolveIn(snapshot, vector.model, Date.now())!.price);
    expect(breakdown.tier).toBe(200_000);
  });
});
