import type { Insertable } from 'kysely';
import type { ModelPriceRow, ModelPricesTable, RateName, StoredImageRate, StoredPriceTier } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import type { ImageRate, ModelPrice, PriceRates, PriceTier, RateKey } from '../pricing/types.js';

/** The column of model_prices each rate is stored in. */
export const RATE_COLUMNS: Record<RateKey, RateName> = {
  input: 'input',
  output: 'output',
  cacheRead: 'cache_read',
  cacheWrite: 'cache_write',
  cacheWrite1h: 'cache_write_1h',
  reasoning: 'reasoning',
  inputAudio: 'input_audio',
  outputAudio: 'output_audio',
  perRequest: 'per_request',
  perImage: 'per_image',
  audioSecond: 'audio_second',
};
export const RATE_KEYS = Object.keys(RATE_COLUMNS) as RateKey[];

/** A stored price version as the domain type. Missing input/output rates read as zero (image-only models). */
export function modelPriceFromRow(row: ModelPriceRow): ModelPrice {
  const rates: PriceRates = { input: Decimal.ZERO, output: Decimal.ZERO };
  for (const key of RATE_KEYS) {
    const text = row[RATE_COLUMNS[key]];
    if (text !== null && text !== undefined) rates[key] = Decimal.parse(text);
  }
  return {
    version: row.id,
    modelId: row.model_id,
    rates,
    tiers: tiersFromStored(row.tiers),
    imageRates: imageRatesFromStored(row.image_rates),
    effectiveFrom: row.effective_from,
    effectiveUntil: row.effective_until ?? undefined,
    source: row.source,
  };
}

/** The rate columns of a new price version (exact decimal text, null where the source gives none). */
export function rateColumns(rates: Partial<PriceRates>): Pick<Insertable<ModelPricesTable>, RateName> {
  const columns = {} as Record<RateName, string | null>;
  for (const key of RATE_KEYS) columns[RATE_COLUMNS[key]] = rates[key]?.toString() ?? null;
  return columns;
}

export function tiersToStored(tiers: PriceTier[]): string {
  const stored: StoredPriceTier[] = [...tiers]
    .sort((a, b) => a.aboveInputTokens - b.aboveInputTokens)
    .map((tier) => {
      const rates: StoredPriceTier['rates'] = {};
      for (const key of RATE_KEYS) {
        const value = tier.rates[key];
        if (value !== undefined) rates[RATE_COLUMNS[key]] = value.toString();
      }
      return { above_input_tokens: tier.aboveInputTokens, rates };
    });
  return JSON.stringify(stored);
}

export function tiersFromStored(stored: StoredPriceTier[] | null | undefined): PriceTier[] {
  if (!Array.isArray(stored)) return [];
  return stored.map((tier) => {
    const rates: Partial<PriceRates> = {};
    for (const key of RATE_KEYS) {
      const text = tier.rates[RATE_COLUMNS[key]];
      if (text !== undefined) rates[key] = Decimal.parse(text);
    }
    return { aboveInputTokens: tier.above_input_tokens, rates };
  });
}

/** Per-image rates by size and quality as stored: sorted, so equal lists store (and compare) equal. */
export function imageRatesToStored(rates: ImageRate[] | undefined): string {
  const stored: StoredImageRate[] = [...(rates ?? [])]
    .map((entry) => ({
      size: entry.size,
      ...(entry.quality !== undefined ? { quality: entry.quality } : {}),
      rate: entry.rate.toString(),
    }))
    .sort((a, b) => `${a.size} ${a.quality ?? ''}`.localeCompare(`${b.size} ${b.quality ?? ''}`));
  return JSON.stringify(stored);
}

export function imageRatesFromStored(stored: StoredImageRate[] | null | undefined): ImageRate[] {
  if (!Array.isArray(stored)) return [];
  return stored.map((entry) => ({
    size: entry.size,
    ...(entry.quality !== undefined ? { quality: entry.quality } : {}),
    rate: Decimal.parse(entry.rate),
  }));
}

/** True when two prices state exactly the same rates, tiers and image rates (a re-import of it changes nothing). */
export function samePrice(
  a: { rates: Partial<PriceRates>; tiers: PriceTier[]; imageRates?: ImageRate[] },
  b: { rates: Partial<PriceRates>; tiers: PriceTier[]; imageRates?: ImageRate[] },
): boolean {
  return (
    sameRates(a.rates, b.rates) &&
    tiersToStored(a.tiers) === tiersToStored(b.tiers) &&
    imageRatesToStored(a.imageRates) === imageRatesToStored(b.imageRates)
  );
}

function sameRates(a: Partial<PriceRates>, b: Partial<PriceRates>): boolean {
  // Input and output read back as zero when a source gives none (see modelPriceFromRow).
  const read = (rates: Partial<PriceRates>, key: RateKey) =>
    rates[key] ?? (key === 'input' || key === 'output' ? Decimal.ZERO : undefined);
  return RATE_KEYS.every((key) => {
    const left = read(a, key);
    const right = read(b, key);
    if (left === undefined || right === undefined) return left === right;
    return left.eq(right);
  });
}
