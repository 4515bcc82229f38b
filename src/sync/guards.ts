import type { PriceInput } from '../catalog/price-history.js';
import { Decimal } from '../money/decimal.js';
import { MAX_BELIEVABLE_TOKEN_RATE } from '../money/units.js';
import { validatePrice } from '../catalog/validate.js';
import type { PriceChange, RateChange } from './diff.js';

/** See MAX_BELIEVABLE_TOKEN_RATE: a ratio check cannot catch a unit mistake on a model priced for the first time. */
export const MAX_TOKEN_RATE = MAX_BELIEVABLE_TOKEN_RATE;

export { validatePrice } from '../catalog/validate.js';

/**
 * Why a change must be held back (empty when it may be applied): a rate moving by more than `maxRatio`
 * either way, a rate dropping to zero or rising from zero (calls turning free, or a free model starting to
 * charge: both are confirmed by hand), or a price that fails validation. Tier rates are held to the same
 * rules as the base rates: a 1000x unit mistake in a long-context tier bills every long prompt 1000x.
 */
export function guardChange(change: PriceChange, price: PriceInput, maxRatio: Decimal): string[] {
  const reasons = validatePrice(price);
  reasons.push(...ratioReasons(change.rates, maxRatio, ''));
  for (const tier of change.tierRates) {
    reasons.push(...ratioReasons(tier.rates, maxRatio, `tier above ${tier.aboveInputTokens} tokens: `));
  }
  return reasons;
}

function ratioReasons(rates: RateChange[], maxRatio: Decimal, where: string): string[] {
  const reasons: string[] = [];
  for (const rate of rates) {
    if (rate.old === null || rate.new === null) continue;
    const old = Decimal.parse(rate.old);
    const next = Decimal.parse(rate.new);
    if (old.isZero() || next.isZero()) {
      reasons.push(`${where}${rate.rate} changes from ${rate.old} to ${rate.new}: a change to or from zero is confirmed by hand`);
    } else if (next.gt(old.mul(maxRatio)) || next.mul(maxRatio).lt(old)) {
      reasons.push(
        `${where}${rate.rate} changes ${rate.ratio}x (${rate.old} to ${rate.new} USD), beyond the ${maxRatio.toString()}x limit`,
      );
    }
  }
  return reasons;
}
