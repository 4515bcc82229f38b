import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import type { PriceRates } from '../pricing/types.js';
import type { PriceTier } from '../pricing/types.js';
import { rateChanges, ratioText, tierRateChanges, type PriceChange } from './diff.js';
import { guardChange, validatePrice } from './guards.js';

const TEN = Decimal.parse('10');
const decimal = Decimal.parse;

/** A change from `before` to `after` as the diff states it, with the price it would write. */
function change(
  before: Partial<PriceRates>,
  after: Partial<PriceRates>,
  tiers: { before?: PriceTier[]; after?: PriceTier[] } = {},
) {
  const old = { rates: before, tiers: tiers.before ?? [] };
  const next = { rates: after, tiers: tiers.after ?? [] };
  const stated: PriceChange = {
    modelId: 'm',
    feedId: 'm',
    firstPrice: false,
    rates: rateChanges(before, after),
    tiersChanged: JSON.stringify(old.tiers) !== JSON.stringify(next.tiers),
    tierRates: tierRateChanges(old, next),
  };
  return guardChange(stated, next, TEN);
}

const tier = (aboveInputTokens: number, rates: Partial<PriceRates>): PriceTier => ({ aboveInputTokens, rates });
const BASE = { input: decimal('0.000003'), output: decimal('0.000015') };

describe('ratioText', () => {
  it.each([
    ['0.000005', '0.0000025', '2.0000'],
    ['0.00015', '0.00000015', '1000.0000'],
    ['1', '3', '0.3333'],
    ['2', '3', '0.6667'],
    ['0.00000014', '0.00000028', '0.5000'],
    ['9E-7', '0.0000009', '1.0000'],
  ])('%s / %s = %s, exactly, rounded half-up', (numerator, denominator, expected) => {
    expect(ratioText(decimal(numerator), decimal(denominator))).toBe(expected);
  });
});

describe('rateChanges', () => {
  it('lists only the rates that differ, with a null ratio where there is no old rate', () => {
    expect(
      rateChanges(
        { input: decimal('0.000001'), output: decimal('0.000002') },
        { input: decimal('0.000001'), output: decimal('0.000003'), cacheRead: decimal('1E-7') },
      ),
    ).toEqual([
      { rate: 'output', old: '0.000002', new: '0.000003', ratio: '1.5000' },
      { rate: 'cache_read', old: null, new: '0.0000001', ratio: null },
    ]);
  });
});

describe('guardChange', () => {
  it('lets a change up to the limit through, either way', () => {
    expect(change({ input: decimal('0.000001') }, { input: decimal('0.00001') })).toEqual([]);
    expect(change({ input: decimal('0.00001') }, { input: decimal('0.000001') })).toEqual([]);
  });

  it('holds back a change just beyond the limit, either way', () => {
    expect(change({ input: decimal('0.000001') }, { input: decimal('0.0000100001') })).toEqual([
      'input changes 10.0001x (0.000001 to 0.0000100001 USD), beyond the 10x limit',
    ]);
    expect(change({ output: decimal('0.00001') }, { output: decimal('0.00000099') })).toEqual([
      'output changes 0.0990x (0.00001 to 0.00000099 USD), beyond the 10x limit',
    ]);
  });

  it('holds back a rate going to or from zero', () => {
    expect(change({ input: decimal('0.000001') }, { input: decimal('0') })[0]).toContain(
      'a change to or from zero is confirmed by hand',
    );
    expect(change({ input: decimal('0') }, { input: decimal('0.000001') })[0]).toContain('from 0 to 0.000001');
  });
});

describe('guardChange on tier rates', () => {
  it('holds back a tier rate moving beyond the limit, naming the tier', () => {
    expect(
      change(BASE, BASE, {
        before: [tier(200_000, { input: decimal('0.000006') })],
        after: [tier(200_000, { input: decimal('0.0006') })],
      }),
    ).toEqual(['tier above 200000 tokens: input changes 100.0000x (0.000006 to 0.0006 USD), beyond the 10x limit']);
  });

  it('lets a tier rate change within the limit through, and a tier to or from zero is confirmed by hand', () => {
    const before = [tier(200_000, { input: decimal('0.000006'), output: decimal('0.0000225') })];
    expect(
      change(BASE, BASE, { before, after: [tier(200_000, { input: decimal('0.00006'), output: decimal('0.0000225') })] }),
    ).toEqual([]);
    expect(change(BASE, BASE, { before, after: [tier(200_000, { input: decimal('0'), output: decimal('0.0000225') })] })).toEqual(
      ['tier above 200000 tokens: input changes from 0.000006 to 0: a change to or from zero is confirmed by hand'],
    );
  });

  it('compares a new tier with what those requests paid until now, and a removed one with what they pay without it', () => {
    const dear = [tier(128_000, { output: decimal('0.0006') })];
    expect(change(BASE, BASE, { after: dear })).toEqual([
      'tier above 128000 tokens: output changes 40.0000x (0.000015 to 0.0006 USD), beyond the 10x limit',
    ]);
    expect(change(BASE, BASE, { before: dear })).toEqual([
      'tier above 128000 tokens: output changes 0.0250x (0.0006 to 0.000015 USD), beyond the 10x limit',
    ]);
    // A new tier above an existing one starts from that tier's rate, not the base's.
    expect(
      change(BASE, BASE, {
        before: [tier(100_000, { input: decimal('0.00003') })],
        after: [tier(100_000, { input: decimal('0.00003') }), tier(200_000, { input: decimal('0.00006') })],
      }),
    ).toEqual([]);
  });

  it('a base rate change is reported once, not again for each tier that does not set that rate', () => {
    const tiers = [tier(200_000, { input: decimal('0.000006') })];
    expect(change(BASE, { ...BASE, output: decimal('0.0003') }, { before: tiers, after: tiers })).toEqual([
      'output changes 20.0000x (0.000015 to 0.0003 USD), beyond the 10x limit',
    ]);
  });
});

describe('validatePrice', () => {
  it('passes the dearest real token price, o1-pro output at $600 per 1M', () => {
    expect(validatePrice({ rates: { input: decimal('0.00015'), output: decimal('0.0006') }, tiers: [] })).toEqual([]);
  });

  it('fails a per-1M price in a per-token field, a negative rate, and a bad tier', () => {
    const reasons = validatePrice({
      rates: { input: decimal('0.135'), output: decimal('-0.000001') },
      tiers: [{ aboveInputTokens: 200_000, rates: { input: decimal('6') } }],
    });
    expect(reasons).toEqual([
      'input is 0.135 USD per token ($135000 per 1M), above the 0.001 limit: most likely a per-1M or per-1K price in a per-token field',
      'output is negative (-0.000001)',
      'tier above 200000 tokens: input is 6 USD per token ($6000000 per 1M), above the 0.001 limit: most likely a per-1M or per-1K price in a per-token field',
    ]);
  });

  it('leaves per-request and per-image prices to the ratio guard (a $0.20 image is real)', () => {
    expect(validatePrice({ rates: { input: decimal('0'), output: decimal('0'), perImage: decimal('0.2') }, tiers: [] })).toEqual(
      [],
    );
  });
});
