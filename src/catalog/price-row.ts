import type { Insertable } from 'kysely';
import type {
  ModelPriceRow,
  ModelPricesTable,
  RateName,
  StoredImageRate,
  StoredPriceTier,
  StoredPriceWindow,
} from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import type { ImageRate, MatchRule, ModelPrice, PriceRates, PriceTier, PriceWindow, RateKey } from '../pricing/types.js';
import { formatTimeOfDay, parseTimeOfDay } from '../pricing/windows.js';
import type { ImportedEntry, ImportedWindow } from './importers/types.js';
import { ruleText } from './match-rules.js';

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
    // Always both keys (undefined when absent): every price has one shape, which the hot path reads fastest.
    match: row.match_rule ?? undefined,
    windows: row.windows?.length ? windowsFromStored(row.windows) : undefined,
  };
}

/** What a price version states besides its validity: rates, tiers, image rates, declared names, windows. */
export interface PriceStatement {
  rates: Partial<PriceRates>;
  tiers: PriceTier[];
  imageRates?: ImageRate[];
  match?: MatchRule;
  windows?: ImportedWindow[];
}

/** What an imported entry states as a price version (the sync diffs and writes this). */
export function priceStatementOf(entry: ImportedEntry): PriceStatement {
  return {
    rates: entry.rates,
    tiers: entry.tiers,
    ...(entry.imageRates ? { imageRates: entry.imageRates } : {}),
    ...(entry.match ? { match: entry.match } : {}),
    ...(entry.windows?.length ? { windows: entry.windows } : {}),
  };
}

/** Every stated column of a new price version (seed, sync and the admin API write the same shape). */
export function priceColumns(
  price: PriceStatement,
): Pick<Insertable<ModelPricesTable>, RateName | 'tiers' | 'image_rates' | 'match_rule' | 'windows'> {
  return {
    ...rateColumns(price.rates),
    tiers: tiersToStored(price.tiers),
    image_rates: imageRatesToStored(price.imageRates),
    match_rule: price.match ? ruleText(price.match) : null,
    windows: windowsToStored(price.windows),
  };
}

/** Windows as stored: start and end as `HH:MM:SS`, rates as exact text, in the source's order. */
export function windowsToStored(windows: ImportedWindow[] | undefined): string {
  const stored: StoredPriceWindow[] = (windows ?? []).map((window) => ({
    start_time: formatTimeOfDay(window.startSecond),
    end_time: formatTimeOfDay(window.endSecond),
    rates: storedRates(window.rates),
    tiers: JSON.parse(tiersToStored(window.tiers)) as StoredPriceTier[],
  }));
  return JSON.stringify(stored);
}

export function windowsFromStored(stored: StoredPriceWindow[] | null | undefined): PriceWindow[] {
  if (!Array.isArray(stored)) return [];
  return stored.map((window) => {
    const rates: PriceRates = { input: Decimal.ZERO, output: Decimal.ZERO };
    for (const key of RATE_KEYS) {
      const text = window.rates[RATE_COLUMNS[key]];
      if (text !== undefined) rates[key] = Decimal.parse(text);
    }
    return {
      startSecond: parseTimeOfDay(window.start_time),
      endSecond: parseTimeOfDay(window.end_time),
      rates,
      tiers: tiersFromStored(window.tiers),
    };
  });
}

function storedRates(rates: Partial<PriceRates>): Partial<Record<RateName, string>> {
  const stored: Partial<Record<RateName, string>> = {};
  for (const key of RATE_KEYS) {
    const value = rates[key];
    if (value !== undefined) stored[RATE_COLUMNS[key]] = value.toString();
  }
  return stored;
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
    .map((tier) => ({ above_input_tokens: tier.aboveInputTokens, rates: storedRates(tier.rates) }));
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

/**
 * True when two prices state exactly the same rates, tiers, image rates, declared names and windows (a
 * re-import of it changes nothing).
 */
export function samePrice(a: PriceStatement, b: PriceStatement): boolean {
  return (
    sameRates(a.rates, b.rates) &&
    tiersToStored(a.tiers) === tiersToStored(b.tiers) &&
    imageRatesToStored(a.imageRates) === imageRatesToStored(b.imageRates) &&
    (a.match ? ruleText(a.match) : null) === (b.match ? ruleText(b.match) : null) &&
    sameWindows(a.windows, b.windows)
  );
}

function sameWindows(a: ImportedWindow[] | undefined, b: ImportedWindow[] | undefined): boolean {
  const left = a ?? [];
  const right = b ?? [];
  return (
    left.length === right.length &&
    left.every((window, index) => {
      const other = right[index]!;
      return (
        window.startSecond === other.startSecond &&
        window.endSecond === other.endSecond &&
        sameRates(window.rates, other.rates) &&
        tiersToStored(window.tiers) === tiersToStored(other.tiers)
      );
    })
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
