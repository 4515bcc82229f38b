import { Decimal } from '../../src/money/decimal.js';
import type { ModelPrice, PriceRates, Resolution } from '../../src/pricing/types.js';

/** gpt-4o-mini's price (version 42) with `rates`, for unit tests that price a usage or report a charge. */
export function testPrice(rates: Partial<PriceRates> = {}): ModelPrice {
  return {
    version: 42,
    modelId: 'gpt-4o-mini',
    rates: { input: Decimal.parse('0.15e-6'), output: Decimal.parse('0.6e-6'), ...rates },
    tiers: [],
    effectiveFrom: undefined,
    effectiveUntil: undefined,
    source: 'test',
  };
}

/** `price` as gpt-4o-mini resolves from the catalog by its exact name, with OpenAI's limits of `limits`. */
export function testResolution(price: ModelPrice, limits: { maxOutputTokens?: number; contextWindow?: number } = {}): Resolution {
  return {
    requested: 'gpt-4o-mini',
    modelId: 'gpt-4o-mini',
    providerId: 'openai',
    upstreamModel: 'gpt-4o-mini',
    source: 'database',
    match: 'exact',
    price,
    maxOutputTokens: limits.maxOutputTokens ?? 16_384,
    contextWindow: limits.contextWindow ?? 128_000,
  };
}
