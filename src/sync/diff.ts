import type { Kysely } from 'kysely';
import { currentPriceRows, storedPrice, type PriceInput } from '../catalog/price-history.js';
import { priceStatementOf, RATE_COLUMNS, RATE_KEYS, samePrice, tiersToStored } from '../catalog/price-row.js';
import { CatalogMatcher, isZeroPrice } from '../catalog/seed-matching.js';
import type { ImportedEntry, ParsedSource } from '../catalog/importers/types.js';
import type { RateName, Schema } from '../db/schema.js';
import type { Decimal } from '../money/decimal.js';
import type { PriceRates, RateKey } from '../pricing/types.js';

/** One rate that differs between the catalog's current version and the feed, as exact decimal text. */
export interface RateChange {
  rate: RateName;
  old: string | null;
  new: string | null;
  /** new / old to four decimals ("2.0000"); null when either side is absent or the old rate is zero. */
  ratio: string | null;
}

/** A model whose feed price differs from its current catalog price (or that has no price yet). */
export interface PriceChange {
  modelId: string;
  /** The id the feed lists it under (`anthropic/claude-sonnet-5` for `openrouter/anthropic/claude-sonnet-5`). */
  feedId: string;
  /** True when the model had no current price before. */
  firstPrice: boolean;
  rates: RateChange[];
  tiersChanged: boolean;
  /** Tier rates that differ, per threshold (what a request above it paid before and would pay now). */
  tierRates: TierRateChange[];
}

/** The rates a tier sets (on either side) that differ between the current price and the feed's. */
export interface TierRateChange {
  aboveInputTokens: number;
  rates: RateChange[];
}

/** A change with the price it would write (kept out of the JSON result, where `rates` says the same). */
export interface PlannedChange {
  change: PriceChange;
  price: PriceInput;
  /** The current price version the change was computed against; null when the model had none. */
  currentVersion: number | null;
}

export interface CatalogDiff {
  changes: PlannedChange[];
  unchanged: number;
  /** Feed entries whose model is not in the catalog: reported, registered only on request. */
  newModels: ImportedEntry[];
  /** Active models this source priced before (by the price's source label) that the feed no longer lists. */
  gone: string[];
  /** Entries stating no non-zero rate: a missing price far more often than a free model (see seed-matching.ts). */
  zeroPriced: string[];
  /**
   * Models whose current price another source set (an admin PUT, another feed, a seed file) and that this
   * feed prices differently: reported, not applied, unless the run adopts them. Without this rule two feeds
   * that list the same model (LiteLLM's `openrouter/...` entries and OpenRouter itself) would overwrite each
   * other on every tick, writing two versions a day, and a feed would silently undo an operator's price.
   */
  otherSource: Array<PlannedChange & { currentSource: string }>;
}

/** The price `source` label a sync writes, so a later run knows which models this source priced. */
export function syncLabel(source: string): string {
  return `sync:${source}`;
}

/**
 * Compares a parsed feed with the catalog's current prices (read once). Matching is the seed's: exact id,
 * the source's variants, the gateway/organisation variant; never a substring (gpt-4o-mini is not gpt-4o).
 */
export async function diffCatalog(db: Kysely<Schema>, parsed: ParsedSource, source: string): Promise<CatalogDiff> {
  const models = await db.selectFrom('models').select(['id', 'active']).execute();
  const ids = new Set(models.map((model) => model.id));
  const matcher = new CatalogMatcher(ids, new Set(parsed.entries.map((entry) => entry.modelId)));
  const current = await currentPriceRows(db);
  const diff: CatalogDiff = { changes: [], unchanged: 0, newModels: [], gone: [], zeroPriced: [], otherSource: [] };
  // A source's prices carry `sync:<source>` (written here) or `<format>:<file>` (written by `catalog seed`).
  const pricedBySource = (label: string) => label === syncLabel(source) || label.startsWith(`${parsed.format}:`);
  const listed = new Set<string>();
  // Exact ids first, so an entry's own model is never taken by another entry's variant.
  const ordered = [...parsed.entries].sort((a, b) => Number(!ids.has(a.modelId)) - Number(!ids.has(b.modelId)));
  for (const entry of ordered) {
    const match = matcher.match(entry);
    if (match.kind === 'none') {
      if (!isZeroPrice(entry)) diff.newModels.push(entry);
      continue;
    }
    if (listed.has(match.modelId)) continue;
    listed.add(match.modelId);
    if (isZeroPrice(entry)) {
      diff.zeroPriced.push(match.modelId);
      continue;
    }
    const price: PriceInput = priceStatementOf(entry);
    const row = current.get(match.modelId);
    const before = row ? storedPrice(row) : undefined;
    if (before && samePrice(before, price)) {
      diff.unchanged += 1;
      continue;
    }
    const planned: PlannedChange = {
      change: {
        modelId: match.modelId,
        feedId: entry.upstreamModel,
        firstPrice: before === undefined,
        rates: rateChanges(before?.rates ?? {}, price.rates),
        tiersChanged: tiersToStored(before?.tiers ?? []) !== tiersToStored(price.tiers),
        tierRates: before ? tierRateChanges(before, price) : [],
      },
      price,
      currentVersion: row?.id ?? null,
    };
    if (row && !pricedBySource(row.source)) diff.otherSource.push({ ...planned, currentSource: row.source });
    else diff.changes.push(planned);
  }
  // Invalid entries are still listed by the feed: their models are held back, not gone.
  const invalid = new Set(parsed.errors.concat(parsed.notices).map((issue) => issue.model));
  const active = new Set(models.filter((model) => model.active).map((model) => model.id));
  for (const [modelId, row] of current) {
    if (!active.has(modelId) || listed.has(modelId)) continue;
    if (!pricedBySource(row.source)) continue;
    if (invalid.has(modelId) || [...invalid].some((feedId) => modelId.endsWith(`/${feedId}`))) continue;
    diff.gone.push(modelId);
  }
  diff.gone.sort();
  return diff;
}

/** The rates that differ, with the ratio new / old. */
export function rateChanges(before: Partial<PriceRates>, after: Partial<PriceRates>): RateChange[] {
  const changes: RateChange[] = [];
  for (const key of RATE_KEYS) {
    const old = before[key];
    const next = after[key];
    if (old === undefined && next === undefined) continue;
    if (old !== undefined && next !== undefined && old.eq(next)) continue;
    changes.push({
      rate: RATE_COLUMNS[key],
      old: old?.toString() ?? null,
      new: next?.toString() ?? null,
      ratio: old !== undefined && next !== undefined && !old.isZero() ? ratioText(next, old) : null,
    });
  }
  return changes;
}

/**
 * The tier rates that differ, threshold by threshold. A request above a threshold pays the base rates
 * overlaid with the highest tier at or below it (see ratesFor in pricing/cost.ts), so each rate a tier sets on
 * either side is compared as such a request paid it before and would pay it now: a changed tier rate with its
 * old one, a new tier's rate with the rate those requests paid until now (a lower tier's or the base), a
 * removed tier's with what they pay without it. Rates no tier at that threshold sets are the base's, which
 * `rateChanges` already compares.
 */
export function tierRateChanges(before: PriceInput, after: PriceInput): TierRateChange[] {
  const thresholds = [...new Set([...before.tiers, ...after.tiers].map((tier) => tier.aboveInputTokens))].sort((a, b) => a - b);
  const changes: TierRateChange[] = [];
  for (const threshold of thresholds) {
    const stated = (price: PriceInput) => price.tiers.find((tier) => tier.aboveInputTokens === threshold)?.rates ?? {};
    const keys = new Set([...Object.keys(stated(before)), ...Object.keys(stated(after))] as RateKey[]);
    const pick = (rates: Partial<PriceRates>) => {
      const picked: Partial<PriceRates> = {};
      for (const key of keys) if (rates[key] !== undefined) picked[key] = rates[key];
      return picked;
    };
    const rates = rateChanges(pick(ratesAbove(before, threshold)), pick(ratesAbove(after, threshold)));
    if (rates.length > 0) changes.push({ aboveInputTokens: threshold, rates });
  }
  return changes;
}

/** The rates a request with more than `threshold` input tokens pays: the base overlaid with the highest tier at or below it. */
function ratesAbove(price: PriceInput, threshold: number): Partial<PriceRates> {
  const tiers = price.tiers.filter((tier) => tier.aboveInputTokens <= threshold);
  const tier = tiers.reduce<PriceInput['tiers'][number] | undefined>(
    (highest, candidate) => (!highest || candidate.aboveInputTokens > highest.aboveInputTokens ? candidate : highest),
    undefined,
  );
  const rates: Partial<PriceRates> = { ...price.rates };
  for (const [key, value] of Object.entries(tier?.rates ?? {}) as Array<[RateKey, Decimal | undefined]>) {
    if (value !== undefined) rates[key] = value;
  }
  return rates;
}

/** `numerator / denominator` to four decimals, rounded half-up, computed on the exact coefficients. */
export function ratioText(numerator: Decimal, denominator: Decimal): string {
  const places = 4n;
  const top = numerator.coefficient * 10n ** (BigInt(denominator.scale) + places + 1n);
  const bottom = denominator.coefficient * 10n ** BigInt(numerator.scale);
  const scaled = top / bottom; // one extra digit, for the rounding below
  const rounded = (scaled + 5n) / 10n;
  const text = rounded.toString().padStart(Number(places) + 1, '0');
  return `${text.slice(0, -Number(places))}.${text.slice(-Number(places))}`;
}
