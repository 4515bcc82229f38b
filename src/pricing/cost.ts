import { Decimal } from '../money/decimal.js';
import type { BreakdownLine, CostBreakdown, ModelPrice, NormalizedUsage, PriceRates, RateKey } from './types.js';
import { totalInputTokens } from './usage.js';

/** The rates in force for a request with `promptTokens` prompt tokens, and the tier that set them. */
export interface EffectiveRates {
  rates: PriceRates;
  /** The threshold of the tier applied, or undefined for the base rates. */
  tier: number | undefined;
}

/**
 * Picks the tier: the highest one whose threshold the request's prompt tokens exceed, strictly. "Above N"
 * means more than N, as both peers read it: LiteLLM applies `*_above_200k_tokens` when prompt tokens
 * > 200,000, and genai-prices selects a tier "when the token count is greater than start" (its data.json
 * says so in the Bedrock GPT-5.6 comments, and its calc compares `input_tokens > tier.start`). The prompt
 * counts every input token: uncached, cache read, cache write and audio (litellm#9807 missed tiers by
 * counting only uncached text). The tier prices the whole request; rates it omits keep the base rate.
 */
export function ratesFor(price: ModelPrice, promptTokens: number): EffectiveRates {
  let chosen: ModelPrice['tiers'][number] | undefined;
  for (const tier of price.tiers) {
    if (promptTokens > tier.aboveInputTokens && (!chosen || tier.aboveInputTokens > chosen.aboveInputTokens)) chosen = tier;
  }
  if (!chosen) return { rates: price.rates, tier: undefined };
  return { rates: { ...price.rates, ...definedRates(chosen.rates) }, tier: chosen.aboveInputTokens };
}

/**
 * Prices a usage exactly: one line per non-zero component, each with its units, the rate used and the
 * amount, plus the rate it fell back to when the model has no rate of its own for that component
 * (cache read/write -> input; 1-hour cache write -> cache write -> input; reasoning -> output; audio ->
 * input/output). Reasoning tokens are priced, at the output rate when there is no reasoning rate
 * (langfuse#16508 left them unpriced). `charge` equals `providerCost` until a markup is applied.
 *
 * @example priceUsage(usageFromTotals({ input: 1000, output: 500 }), gpt4oPrice).providerCost // 0.0075
 */
export function priceUsage(usage: NormalizedUsage, price: ModelPrice): CostBreakdown {
  const { rates, tier } = ratesFor(price, totalInputTokens(usage));
  const lines: BreakdownLine[] = [];
  let total = Decimal.ZERO;
  const add = (component: BreakdownLine['component'], units: number, rate: Decimal, fellBackTo: RateKey | undefined) => {
    if (units === 0) return;
    const amount = rate.times(units);
    total = total.add(amount);
    lines.push(fellBackTo ? { component, units, rate, amount, fellBackTo } : { component, units, rate, amount });
  };
  const { input, output } = usage;
  add('input', input.uncached, rates.input, undefined);
  if (input.cacheRead) add('cache_read', input.cacheRead, rates.cacheRead ?? rates.input, rates.cacheRead ? undefined : 'input');
  if (input.cacheWrite) {
    add('cache_write', input.cacheWrite, rates.cacheWrite ?? rates.input, rates.cacheWrite ? undefined : 'input');
  }
  if (input.cacheWrite1h) {
    const fellBackTo = rates.cacheWrite1h ? undefined : rates.cacheWrite ? 'cacheWrite' : 'input';
    add('cache_write_1h', input.cacheWrite1h, rates.cacheWrite1h ?? rates.cacheWrite ?? rates.input, fellBackTo);
  }
  if (input.audio) add('input_audio', input.audio, rates.inputAudio ?? rates.input, rates.inputAudio ? undefined : 'input');
  add('output', output.text, rates.output, undefined);
  if (output.reasoning) {
    add('reasoning', output.reasoning, rates.reasoning ?? rates.output, rates.reasoning ? undefined : 'output');
  }
  if (output.audio)
    add('output_audio', output.audio, rates.outputAudio ?? rates.output, rates.outputAudio ? undefined : 'output');
  if (rates.perRequest) add('request', usage.requests, rates.perRequest, undefined);
  if (rates.perImage) add('image', usage.images, rates.perImage, undefined);
  return { lines, tier, providerCost: total, markup: undefined, charge: total };
}

function definedRates(rates: Partial<PriceRates>): Partial<PriceRates> {
  const result: Partial<PriceRates> = {};
  for (const key of Object.keys(rates) as RateKey[]) {
    const value = rates[key];
    if (value !== undefined) result[key] = value;
  }
  return result;
}
