import type { Kysely } from 'kysely';
import type { ModelPriceRow, Schema } from '../db/schema.js';
import type { ModelPrice, PriceRates } from '../pricing/types.js';
import {
  imageRatesFromStored,
  modelPriceFromRow,
  priceColumns,
  samePrice,
  tiersFromStored,
  windowsFromStored,
  type PriceStatement,
} from './price-row.js';

/** A price to write: rates, tiers, image rates (absent is none), declared names and time-of-day windows. */
export type PriceInput = PriceStatement;

/**
 * Writes a new price version for `modelId` unless it equals the current one. A change closes the current
 * version at `effectiveFrom` and opens the new one; rates are never updated in place, so every past charge
 * can be explained by the version it used.
 * @throws Error when `effectiveFrom` is not after the current version's start (history cannot be rewritten).
 */
export async function writePriceVersion(
  db: Kysely<Schema>,
  modelId: string,
  price: PriceInput,
  source: string,
  effectiveFrom: Date,
): Promise<{ version: number; previousVersion: number | undefined; changed: boolean }> {
  const work = async (transaction: Kysely<Schema>) => {
    const current = await transaction
      .selectFrom('model_prices')
      .selectAll()
      .where('model_id', '=', modelId)
      .where('effective_until', 'is', null)
      .forUpdate()
      .executeTakeFirst();
    if (current && samePrice(storedPrice(current), price)) {
      return { version: current.id, previousVersion: undefined, changed: false };
    }
    if (current) {
      assertAfter(modelId, current, effectiveFrom);
      await transaction
        .updateTable('model_prices')
        .set({ effective_until: effectiveFrom })
        .where('id', '=', current.id)
        .execute();
    }
    const inserted = await transaction
      .insertInto('model_prices')
      .values({
        model_id: modelId,
        effective_from: effectiveFrom,
        ...priceColumns(price),
        source,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { version: inserted.id, previousVersion: current?.id, changed: true };
  };
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}

/** @throws Error when `effectiveFrom` does not come after the version it would close. */
export function assertAfter(modelId: string, current: ModelPriceRow, effectiveFrom: Date): void {
  if (effectiveFrom.getTime() <= current.effective_from.getTime()) {
    throw new Error(
      `${modelId}: a new price must start after the current version ${current.id} ` +
        `(from ${current.effective_from.toISOString()}), not at ${effectiveFrom.toISOString()}`,
    );
  }
}

/** The rates and tiers of a stored version, comparable with an imported price. */
export function storedPrice(row: ModelPriceRow): PriceInput {
  const price = modelPriceFromRow(row);
  const rates: Partial<PriceRates> = { ...price.rates };
  if (row.input === null) delete rates.input;
  if (row.output === null) delete rates.output;
  return {
    rates,
    tiers: tiersFromStored(row.tiers),
    imageRates: imageRatesFromStored(row.image_rates),
    ...(row.match_rule ? { match: row.match_rule } : {}),
    ...(row.windows?.length ? { windows: windowsFromStored(row.windows) } : {}),
  };
}

/** The price in force at `at` (default: the current, open version), in one query. */
export async function priceAt(db: Kysely<Schema>, modelId: string, at?: Date): Promise<ModelPrice | undefined> {
  let query = db.selectFrom('model_prices').selectAll().where('model_id', '=', modelId);
  query = at
    ? query
        .where('effective_from', '<=', at)
        .where((where) => where.or([where('effective_until', 'is', null), where('effective_until', '>', at)]))
    : query.where('effective_until', 'is', null);
  const row = await query.orderBy('effective_from', 'desc').limit(1).executeTakeFirst();
  return row ? modelPriceFromRow(row) : undefined;
}

/** Every version of a model's price, oldest first. */
export async function priceHistory(db: Kysely<Schema>, modelId: string): Promise<ModelPrice[]> {
  const rows = await db
    .selectFrom('model_prices')
    .selectAll()
    .where('model_id', '=', modelId)
    .orderBy('effective_from', 'asc')
    .execute();
  return rows.map(modelPriceFromRow);
}

/** Every open version, by model id: what a seed compares against, loaded once. */
export async function currentPriceRows(db: Kysely<Schema>): Promise<Map<string, ModelPriceRow>> {
  const rows = await db.selectFrom('model_prices').selectAll().where('effective_until', 'is', null).execute();
  return new Map(rows.map((row) => [row.model_id, row]));
}
