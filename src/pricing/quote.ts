import type { BudgetMode } from '../db/schema.js';
import type { Decimal } from '../money/decimal.js';
import { debitFor, type Debit } from './budget.js';
import { priceUsage, ratesFor } from './cost.js';
import { applyMarkup, type MarkupRule } from './markup.js';
import type { CostBreakdown, NormalizedUsage, PriceRates, Resolution } from './types.js';
import { emptyUsage } from './usage.js';

export interface QuoteInput {
  resolution: Resolution;
  /** The estimated prompt size, every input token. */
  promptTokens: number;
  /** The request's max output tokens (max_tokens / max_completion_tokens, or the model's limit). */
  maxOutputTokens: number;
  markup: MarkupRule | undefined;
  mode: BudgetMode;
  jobPrice: Decimal | undefined;
}

export interface Quote {
  usage: NormalizedUsage;
  breakdown: CostBreakdown;
  debit: Debit;
}

/**
 * The most a call can cost, which is what the gateway holds before calling upstream: the prompt estimate at
 * the tier it lands in and every possible output token, with markup (see `worstCaseTokenUsage`).
 * @throws RangeError for a negative or fractional token count; MissingJobPriceError as debitFor.
 */
export function quoteWorstCase(input: QuoteInput): Quote {
  const usage = worstCaseTokenUsage(input.resolution, input.promptTokens, input.maxOutputTokens);
  return quoteUsage({ ...input, usage });
}

/**
 * A call's usage at its worst: the prompt priced as the dearest way it can be read (uncached input, or
 * written to the cache: Anthropic charges 1.25x input for a 5-minute cache write and 2x for a 1-hour one,
 * and a request with `cache_control` may write its whole prompt), and every possible output token at the
 * higher of the output and reasoning rates (a reasoning model may spend all of max_tokens thinking). Cache
 * reads only lower a cost, so assuming none never under-holds.
 * @throws RangeError for a negative or fractional token count.
 */
export function worstCaseTokenUsage(resolution: Resolution, promptTokens: number, maxOutputTokens: number): NormalizedUsage {
  requireCount('promptTokens', promptTokens);
  requireCount('maxOutputTokens', maxOutputTokens);
  const { rates } = ratesFor(resolution.price, promptTokens);
  const usage = emptyUsage();
  usage.estimated = true;
  usage.input[dearestInput(rates)] = promptTokens;
  if (rates.reasoning && rates.reasoning.gt(rates.output)) usage.output.reasoning = maxOutputTokens;
  else usage.output.text = maxOutputTokens;
  return usage;
}

function dearestInput(rates: PriceRates): 'uncached' | 'cacheWrite' | 'cacheWrite1h' {
  let dearest: 'uncached' | 'cacheWrite' | 'cacheWrite1h' = 'uncached';
  let rate = rates.input;
  if (rates.cacheWrite?.gt(rate)) {
    dearest = 'cacheWrite';
    rate = rates.cacheWrite;
  }
  if (rates.cacheWrite1h?.gt(rate)) dearest = 'cacheWrite1h';
  return dearest;
}

/**
 * Prices a worst-case usage (any kind of call: tokens, audio seconds, images) with markup, in the account's
 * unit: what the gateway holds.
 * @throws MissingJobPriceError as debitFor.
 */
export function quoteUsage(input: {
  resolution: Resolution;
  usage: NormalizedUsage;
  markup: MarkupRule | undefined;
  mode: BudgetMode;
  jobPrice: Decimal | undefined;
}): Quote {
  const breakdown = applyMarkup(priceUsage(input.usage, input.resolution.price), input.markup);
  const debit = debitFor(input.mode, { breakdown, usage: input.usage, jobPrice: input.jobPrice });
  return { usage: input.usage, breakdown, debit };
}

function requireCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a whole number of tokens, 0 or more; got ${value}`);
  }
}
