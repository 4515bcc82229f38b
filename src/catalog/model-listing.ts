import type { Kysely } from 'kysely';
import { RATE_NAMES, type RateName, type Schema } from '../db/schema.js';
import { decodeCursor, likeContaining, pageSize, toPage, type Page } from '../db/keyset-pages.js';
import { Decimal } from '../money/decimal.js';

/** A catalog model with its current price (rates in USD per unit, exact text; null when unpriced). */
export interface ListedModel {
  id: string;
  provider: string;
  upstreamModel: string;
  active: boolean;
  modality: string;
  price: {
    version: number;
    source: string;
    effectiveFrom: string;
    rates: Partial<Record<RateName, string>>;
    tiered: boolean;
  } | null;
}

export interface ModelListOptions {
  limit: number;
  cursor?: string;
  /** Part of the model id, any case. */
  search?: string;
  provider?: string;
  /** true: only models with a current price; false: only those without. */
  priced?: boolean;
  active?: boolean;
}

/**
 * Catalog models by id, a page at a time (keyset on the primary key), each with its current price version
 * joined in one query. @throws InvalidCursorError
 */
export async function listModels(db: Kysely<Schema>, options: ModelListOptions): Promise<Page<ListedModel>> {
  const limit = pageSize(options.limit);
  let query = db
    .selectFrom('models')
    .leftJoin('model_prices', (join) =>
      join.onRef('model_prices.model_id', '=', 'models.id').on('model_prices.effective_until', 'is', null),
    )
    .select([
      'models.id',
      'models.provider_id',
      'models.upstream_model',
      'models.active',
      'models.modality',
      'model_prices.id as version',
      'model_prices.source',
      'model_prices.effective_from',
      'model_prices.tiers',
      ...RATE_NAMES.map((name) => `model_prices.${name}` as const),
    ]);
  if (options.search) query = query.where('models.id', 'ilike', likeContaining(options.search));
  if (options.provider) query = query.where('models.provider_id', '=', options.provider);
  if (options.active !== undefined) query = query.where('models.active', '=', options.active);
  if (options.priced === true) query = query.where('model_prices.id', 'is not', null);
  if (options.priced === false) query = query.where('model_prices.id', 'is', null);
  if (options.cursor !== undefined) query = query.where('models.id', '>', decodeCursor(options.cursor));
  const rows = await query
    .orderBy('models.id')
    .limit(limit + 1)
    .execute();
  return toPage(
    rows,
    limit,
    (row) => row.id,
    (row): ListedModel => {
      const rates: Partial<Record<RateName, string>> = {};
      for (const name of RATE_NAMES) {
        const value = row[name];
        // NUMERIC keeps its column scale ("0.00000250"); the catalog's own text drops the trailing zeros.
        if (value !== null && value !== undefined) rates[name] = Decimal.parse(value).toString();
      }
      return {
        id: row.id,
        provider: row.provider_id,
        upstreamModel: row.upstream_model,
        active: row.active,
        modality: row.modality,
        price:
          row.version === null || row.version === undefined
            ? null
            : {
                version: row.version,
                source: row.source ?? '',
                effectiveFrom: new Date(row.effective_from!).toISOString(),
                rates,
                tiered: Array.isArray(row.tiers) && row.tiers.length > 0,
              },
      };
    },
  );
}
