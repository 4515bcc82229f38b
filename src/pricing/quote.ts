import type { BudgetMode } from '../db/schema.js';
import type { Decimal } from '../money/decimal.js';
import { debitFor, type Debit } from './budget.js';
import { priceUsage, ratesFor } from './cost.js';
import { applyMarkup, type MarkupRule } from './markup.js';
import type { CostBreakdown, NormalizedUsage, Resolution } from './types.js';
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
 * The most a call can cost, which is what the gateway holds before calling upstream: the prompt estimate
 * priced as uncached input at the tier it lands in, and every possible output token at the higher of the
 * output and reasoning rates (a reasoning model may spend all of max_tokens thinking), with markup. Cache
 * reads only lower a cost, so assuming none never under-holds.
 * @throws RangeError for a negative or fractional token count; MissingJobPriceError as debitFor.
 */
export function quoteWorstCase(input: QuoteInput): Quote {
  requireCount('promptTokens', input.promptTokens);
  requireCount('maxOutputTokens', input.maxOutputTokens);
  const price = input.resolution.price;
  const { rates } = ratesFor(price, input.promptTokens);
  const usage = emptyUsage();
  usage.estimated = true;
  usage.input.uncached = input.promptTokens;
  if (rates.reasoning && rates.reasoning.gt(rates.output)) usage.output.reasoning = input.maxOutputTokens;
  else usage.output.text = input.maxOutputTokens;
  const breakdown = applyMarkup(priceUsage(usage, price), input.markup);
  const debit = debitFor(input.mode, { breakdown, usage, jobPrice: input.jobPrice });
  return { usage, breakdown, debit };
}

function requireCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a whole number of tokens, 0 or more; got ${value}`);
  }
}
