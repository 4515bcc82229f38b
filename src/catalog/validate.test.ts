import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatProblem, validateSources } from './validate.js';

const load = (path: string) => ({
  file: path.split('/').pop()!,
  text: readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8'),
});

describe('validateSources', () => {
  it('passes the seed files together and finds the critical models through their variants', () => {
    const result = validateSources([
      load('fixtures/seed-formats/llm_pricing_current.json'),
      load('fixtures/seed-formats/manual_pricing.json'),
    ]);
    expect(result.problems.filter((problem) => problem.severity === 'error')).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.sources.map((source) => source.format)).toEqual(['llm-pricing-json', 'manual-pricing']);
  });

  it('reports a missing critical model as invalid, one line each', () => {
    const result = validateSources([load('fixtures/seed-formats/manual_pricing.json')], {
      critical: ['gpt-4o', 'nosana/meta-llama/Llama-3.3-70B-Instruct'],
    });
    expect(result.valid).toBe(false);
    expect(result.problems.map(formatProblem)).toEqual([
      'error manual_pricing.json: model gpt-4o: critical model gpt-4o is not priced',
    ]);
  });

  it('flags the 1000x slip in the real LiteLLM map (azure_ai/jais-30b-chat at $3,200 per 1M) as a warning', () => {
    const result = validateSources([load('data/catalog/model_prices_and_context_window.json')]);
    expect(result.valid).toBe(true);
    const lines = result.problems.map(formatProblem);
    expect(lines).toContain(
      'warning model_prices_and_context_window.json: model azure_ai/jais-30b-chat: input 0.0032 USD per token ($3200 per 1M) looks like a per-1K or per-1M value',
    );
    expect(lines).toContain(
      'warning model_prices_and_context_window.json: model oci/xai.grok-3: output 0.00000015 is under a tenth of input 0.000003 (swapped fields or units?)',
    );
  });

  it('catches a per-1M file imported as per-token: the same model 1,000,000x apart across files', () => {
    const perToken = { file: 'a.json', text: '{"models": {"gpt-4o": {"provider": "openai", "input": 2.5e-6, "output": 1e-5}}}' };
    const wrongUnit = {
      file: 'b.json',
      text: '{"models": {"openai/gpt-4o": {"provider": "openai", "input": 2.5, "output": 10}}}',
    };
    const result = validateSources([perToken, wrongUnit], { critical: ['gpt-4o'] });
    expect(result.valid).toBe(false);
    const lines = result.problems.map(formatProblem);
    expect(lines).toContain(
      'error b.json: model openai/gpt-4o: input 2.5 per token is 1000x or more away from 0.0000025 in a.json: a unit conversion slip',
    );
    expect(lines.filter((line) => line.startsWith('warning b.json'))).toHaveLength(2);
  });

  it('reports invalid prices, malformed JSON and unknown formats', () => {
    const result = validateSources(
      [
        { file: 'bad.json', text: '{"nosana": {"m": {"prompt": "NaN", "completion": "1"}}}' },
        { file: 'broken.json', text: '{' },
        { file: 'odd.json', text: '[1, 2]' },
      ],
      { critical: [] },
    );
    expect(result.valid).toBe(false);
    const lines = result.problems.map(formatProblem);
    expect(lines[0]).toBe('error bad.json: model nosana/m, field prompt: not a finite number (got "NaN")');
    expect(lines[1]).toBe('error bad.json: no priced model in the file');
    expect(lines[2]).toMatch(/^error broken\.json: malformed JSON/);
    expect(lines[3]).toMatch(/^error odd\.json: unknown price file format/);
  });
});
