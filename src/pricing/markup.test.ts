import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { priceUsage } from './cost.js';
import { applyMarkup } from './markup.js';
import type { ModelPrice } from './types.js';
import { usageFromTotals } from './usage.js';

const gpt4o: ModelPrice = {
  version: 3,
  modelId: 'gpt-4o',
  rates: { input: Decimal.parse('2.5e-6'), output: Decimal.parse('1e-5'), cacheRead: Decimal.parse('1.25e-6') },
  tiers: [],
  effectiveFrom: undefined,
  effectiveUntil: undefined,
  source: 'test',
};
const cost = priceUsage(usageFromTotals({ input: 1000, output: 500, cached: 200 }), gpt4o); // $0.00725

describe('applyMarkup', () => {
  it('adds percent of the provider cost plus the fixed fee, keeping cost, markup and charge apart', () => {
    const marked = applyMarkup(cost, {
      scope: 'model',
      target: 'gpt-4o',
      percent: Decimal.parse('20'),
      fixedFee: Decimal.parse('0.001'),
      name: 'model:gpt-4o',
    });
    expect(marked.providerCost.toString()).toBe('0.00725');
    expect(marked.markup!.amount.toString()).toBe('0.00245');
    expect(marked.markup!.rule).toBe('model:gpt-4o');
    expect(marked.charge.toString()).toBe('0.0097');
    expect(marked.lines).toEqual(cost.lines);
  });

  it('keeps every digit of a fractional percentage', () => {
    const marked = applyMarkup(cost, {
      scope: 'global',
      target: '',
      percent: Decimal.parse('12.5'),
      fixedFee: Decimal.ZERO,
      name: 'g',
    });
    expect(marked.markup!.amount.toString()).toBe('0.00090625');
    expect(marked.charge.toString()).toBe('0.00815625');
  });

  it('charges the provider cost when no rule applies', () => {
    const marked = applyMarkup(cost, undefined);
    expect(marked.markup).toBeUndefined();
    expect(marked.charge.eq(marked.providerCost)).toBe(true);
  });
});
