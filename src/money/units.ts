import { Decimal, DecimalParseError } from './decimal.js';

/**
 * The units pricing sources quote in. The catalog stores USD per single unit (token, request, image);
 * every importer converts through here, so a 1000x unit mistake (litellm#38167) has one place to happen
 * and one set of tests to stop it.
 */
export type PriceUnit =
  | 'usd-per-unit' // USD per token (LiteLLM, OpenRouter, the seed's llm_pricing_current.json)
  | 'usd-per-1k' // USD per 1,000 tokens (the seed's Google config) or per 1,000 requests (genai-prices requests_kcount)
  | 'usd-per-1m' // USD per 1,000,000 tokens (manual_pricing.json, genai-prices *_mtok)
  | 'cents-per-unit'; // US cents per token (Portkey)

const SHIFT_TO_PER_UNIT: Record<PriceUnit, number> = {
  'usd-per-unit': 0,
  'usd-per-1k': -3,
  'usd-per-1m': -6,
  'cents-per-unit': -2,
};

/** Converts an exact value quoted in `unit` to USD per single unit. */
export function toPerUnit(value: Decimal, unit: PriceUnit): Decimal {
  return value.shift(SHIFT_TO_PER_UNIT[unit]);
}

/** Converts USD per single unit to `unit`, exactly: the inverse of `toPerUnit`. */
export function fromPerUnit(value: Decimal, unit: PriceUnit): Decimal {
  return value.shift(-SHIFT_TO_PER_UNIT[unit]);
}

/** Where a price came from, so an error can name the file, the model and the field. */
export interface PriceLocation {
  file: string;
  model: string;
  field: string;
}

export class InvalidPriceError extends Error {
  constructor(
    readonly location: PriceLocation,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${location.file}: model ${location.model}, field ${location.field}: ${reason} (got ${describe(value)})`);
    this.name = 'InvalidPriceError';
  }
}

/**
 * Reads one price from a source file into an exact Decimal. Accepts decimal strings and the raw text of
 * JSON numbers (importers parse JSON with lossless-json so a number's text is never passed through a float).
 * @throws InvalidPriceError for negative, NaN, Infinity, empty or non-numeric values.
 */
export function parsePrice(value: unknown, location: PriceLocation): Decimal {
  const text = priceText(value);
  if (text === undefined) throw new InvalidPriceError(location, value, 'not a number');
  if (/^[+-]?(nan|inf(inity)?)$/i.test(text.trim())) throw new InvalidPriceError(location, value, 'not a finite number');
  let parsed: Decimal;
  try {
    parsed = Decimal.parse(text);
  } catch (error) {
    if (error instanceof DecimalParseError) throw new InvalidPriceError(location, value, 'not a decimal number');
    throw error;
  }
  if (parsed.isNegative()) throw new InvalidPriceError(location, value, 'negative price');
  return parsed;
}

/** Like parsePrice, then converted to USD per single unit. */
export function parsePriceIn(value: unknown, unit: PriceUnit, location: PriceLocation): Decimal {
  return toPerUnit(parsePrice(value, location), unit);
}

function priceText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  // lossless-json hands numbers over as LosslessNumber objects whose `value` is the original text.
  if (value !== null && typeof value === 'object' && 'isLosslessNumber' in value && 'value' in value) {
    return String((value as { value: string }).value);
  }
  if (typeof value === 'bigint') return value.toString();
  // A plain JS number reaching here lost its text already; integers are still exact, anything else is refused.
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return undefined;
}

function describe(value: unknown): string {
  if (value !== null && typeof value === 'object' && 'isLosslessNumber' in value)
    return String((value as unknown as { value: string }).value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The rates quoted per token (the others are per request and per image). */
export const PER_TOKEN_RATES = [
  'input',
  'output',
  'cacheRead',
  'cacheWrite',
  'cacheWrite1h',
  'reasoning',
  'inputAudio',
  'outputAudio',
] as const;

/**
 * The largest believable rate per token: USD 0.001 ($1,000 per 1M). The dearest real price in the 2026
 * feeds is o1-pro's output at $600 per 1M. Above it is a unit mistake: LiteLLM shipped per-1M prices in
 * the per-token field (litellm#38167, `wandb/deepseek-ai/DeepSeek-R1-0528` at 0.54 USD "per token"), a
 * 1000x-1,000,000x billing error. `catalog validate` warns on it; the price sync holds it back.
 */
export const MAX_BELIEVABLE_TOKEN_RATE = Decimal.parse('0.001');
