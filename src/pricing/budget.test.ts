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

  it('job_based debits the job price per call, whatever the call cost', () => {
    const debit = debitFor('job_based', { breakdown, usage, jobPrice: Decimal.parse('0.25') });
    expect([debit.amount.toString(), debit.unit]).toEqual(['0.25', 'usd']);
  });

  it('refuses job_based without a job price, saying how to fix it', () => {
    expect(() => debitFor('job_based', { breakdown, usage, jobPrice: undefined })).toThrow(MissingJobPriceError);
    expect(() => debitFor('job_based', { breakdown, usage, jobPrice: undefined })).toThrow(/no job price/);
  });
});
