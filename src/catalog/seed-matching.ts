import type { ImportedEntry } from './importers/types.js';
import type { PriceRates, RateKey } from '../pricing/types.js';

export type MatchResult = { kind: 'exact' | 'variant'; modelId: string } | { kind: 'none' };

/**
 * Finds the catalog model an imported entry prices: its own id, then the ids its source lists as variants,
 * then the gateway/organisation variant. Never a substring match: `gpt-4o-mini` must not take `gpt-4o`'s
 * price (see DESIGN.md, resolution). A variant is never a model that an entry of the run prices under its
 * own id (`azure/gpt-4o-mini` is not LiteLLM's `azure/eu/gpt-4o-mini`, a regional price), so which model an
 * entry prices does not depend on the order of the files or on what an earlier run registered.
 */
export class CatalogMatcher {
  /** `<gateway>/<name>` -> the catalog ids `<gateway>/<organisation>/<name>` that share it. */
  private readonly byGatewayAndName = new Map<string, string[]>();

  constructor(
    private readonly ids: ReadonlySet<string>,
    private readonly ownIds: ReadonlySet<string>,
  ) {
    for (const id of ids) {
      const parts = id.split('/');
      if (parts.length !== 3 || ownIds.has(id)) continue;
      const key = `${parts[0]}/${parts[2]}`;
      this.byGatewayAndName.set(key, [...(this.byGatewayAndName.get(key) ?? []), id]);
    }
  }

  match(entry: ImportedEntry): MatchResult {
    if (this.ids.has(entry.modelId)) return { kind: 'exact', modelId: entry.modelId };
    for (const variant of entry.variants) {
      if (this.ids.has(variant) && !this.ownIds.has(variant)) return { kind: 'variant', modelId: variant };
    }
    // The seed's `nosana/whisper-large-v3` is registered as `nosana/openai/whisper-large-v3`: a gateway file
    // may leave out the organisation. Taken only when exactly one catalog model fits.
    const parts = entry.modelId.split('/');
    if (parts.length === 2) {
      const candidates = this.byGatewayAndName.get(entry.modelId);
      if (candidates?.length === 1) return { kind: 'variant', modelId: candidates[0]! };
    }
    return { kind: 'none' };
  }
}

/**
 * True when an entry states no non-zero rate at all. The seed skipped these ("zero pricing": the
 * stable-diffusion image model): a file's zero is more often a missing price than a free model, and a stored
 * zero would make every call to it free. Except an entry that states a per-image price: no file writes a
 * per-image field to mean "unknown", so a zero there is a free image model on purpose (the shipped catalog
 * states nosana's stable-diffusion so), served and charged zero, visibly.
 */
export function isZeroPrice(entry: {
  rates: Partial<PriceRates>;
  tiers: { rates: Partial<PriceRates> }[];
  imageRates?: unknown[];
}): boolean {
  if (entry.rates.perImage !== undefined || (entry.imageRates?.length ?? 0) > 0) return false;
  const allZero = (rates: Partial<PriceRates>) =>
    (Object.keys(rates) as RateKey[]).every((key) => rates[key] === undefined || rates[key]!.isZero());
  return allZero(entry.rates) && entry.tiers.every((tier) => allZero(tier.rates));
}
