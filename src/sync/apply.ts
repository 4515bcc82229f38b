import type { Kysely } from 'kysely';
import { registerModels, registrationOf, writePriceVersion } from '../catalog/catalog-store.js';
import { priceStatementOf } from '../catalog/price-row.js';
import type { ImportedEntry } from '../catalog/importers/types.js';
import type { Schema } from '../db/schema.js';
import type { PlannedChange } from './diff.js';

export interface ApplyReport {
  /** New price versions written (each closing the version it replaces, if any). */
  versions: number;
  registered: number;
}

/**
 * Writes the accepted changes as new price versions effective `now`, in ONE transaction: a failure leaves
 * the catalog exactly as it was. Old versions are only closed (`effective_until = now`), never changed, so
 * charges made before `now` stay explained by the price they used (ccusage#1636 repriced history instead).
 * `register` lists models new to the catalog to create (active) and price in the same transaction.
 * @throws the database error, or writePriceVersion's when `now` is not after a current version's start.
 */
export async function applyChanges(
  db: Kysely<Schema>,
  changes: PlannedChange[],
  register: ImportedEntry[],
  label: string,
  now: Date,
): Promise<ApplyReport> {
  if (changes.length === 0 && register.length === 0) return { versions: 0, registered: 0 };
  return db.transaction().execute(async (transaction) => {
    const registered = await registerModels(transaction, register.map(registrationOf));
    let versions = 0;
    const prices = [
      ...changes.map((planned) => ({ modelId: planned.change.modelId, price: planned.price })),
      ...register.map((entry) => ({
        modelId: entry.modelId,
        price: priceStatementOf(entry),
      })),
    ];
    for (const { modelId, price } of prices) {
      const written = await writePriceVersion(transaction, modelId, price, label, now);
      if (written.changed) versions += 1;
    }
    return { versions, registered: registered.inserted };
  });
}
