import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { debitFor, MissingJobPriceError } from './budget.js';
import { priceUsage } from './cost.js';
import { applyMarkup } from './markup.js';
import type { ModelPrice } from './types.js';
import { usageFromAnthropic } from './usage.js';

const sonnet: ModelPrice = {
  version: 1,
  modelId: 'claude-sonnet-4-5',
  rates: {
    input: Decimal.parse('3e-6'),
    output: Decimal.parse('1.5e-5'),
    cacheRead: Decimal.parse('3e-7'),
    cacheWrite: Decimal.parse('3.75e-6'),
  },
  tiers: [],
  effectiveFrom: undefined,
  effectiveUntil: undefined,
  source: 'test',
};
// 100 uncached + 1000 cache read + 200 cache write in, 50 out.
const usage = usageFromAnthropic({
  input_tokens: 100,
  output_tokens: 50,
  cache_read_input_tokens: 1000,
  cache_creation_input_tokens: 200,
})!;
const breakdown = applyMarkup(priceUsage(usage, sonnet), {
  scope: 'global',
  target: '',
  percent: Decimal.parse('10'),
  fixedFee: Decimal.ZERO,
  name: 'global:config',
});

describe('debitFor', () => {
  it('consumption_usd debits the charge, markup included', () => {
    // 100 x 3e-6 + 1000 x 3e-7 + 200 x 3.75e-6 + 50 x 1.5e-5 = 0.0021; +10% = 0.00231
    expect(breakdown.providerCost.toString()).toBe('0.0021');
    const debit = debitFor('consumption_usd', { breakdown, usage, jobPrice: Decimal.parse('0.5') });
    expect([debit.amount.toString(), debit.unit]).toEqual(['0.00231', 'usd']);
  });

  it('consumption_tokens debits every token, cached and reasoning included', () => {
    const withReasoning = { ...usage, output: { ...usage.output, reasoning: 30, audio: 5 } };
    const debit = debitFor('consumption_tokens', { breakdown, usage: withReasoning, jobPrice: undefined });
    expect([debit.amount.toString(), debit.unit]).toEqual(['1385', 'tokens']);
  });

  it("consumption_tokens counts the tokens of other models' steps within the call too (Anthropic's advisor)", () => {
    // test_anthropic_advisor_tool: the executor read 2,390 and wrote 121; the advisor read 2,518 and wrote 22.
    const advised = usageFromAnthropic({
      input_tokens: 2390,
      output_tokens: 121,
      iterations: [
        { type: 'message', input_tokens: 1128, output_tokens: 110 },
        { type: 'advisor_message', model: 'claude-opus-4-8', input_tokens: 2518, output_tokens: 22 },
        { type: 'message', input_tokens: 1262, output_tokens: 11 },
      ],
    })!;
    const priced = priceUsage(advised, sonnet, () => ({
      modelId: 'claude-opus-4-8',
      providerId: 'anthropic',
      source: 'database',
      match: 'exact',
      price: sonnet,
    }));
    const debit = debitFor('consumption_tokens', { breakdown: priced, usage: advised, jobPrice: undefined });
    expect([debit.amount.toString(), debit.unit]).toEqual([String(2390 + 121 + 2518 + 22), 'tokens']);
    // In USD, the charge: every line, the advisor's included (4,908 input and 143 output tokens at sonnet's rates here).
    expect(debitFor('consumption_usd', { breakdown: priced, usage: advised, jobPrice: undefined }).amount.toString()).toBe(
      '0.016869',
    );
  });

  it('job_based debits the job price per call, whatever the call cost', () => {
    const debit = debitFor('job_based', { breakdown, usage, jobPrice: Decimal.parse('0.25') });
    expect([debit.amount.toString(), debit.unit]).toEqual(['0.25', 'usd']);
  });

  it('refuses job_based without a job price, saying how to fix it', () => {
    expect(() => debitFor('job_based', { breakdown, usage, jobPrice: undefined })).toThrow(MissingJobPriceError);
    expect(() => debitFor('job_based', { breakdown, usage, jobPrice: undefined })).toThrow(/no job price/);
  });
});
