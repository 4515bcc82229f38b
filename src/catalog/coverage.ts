import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';

export interface Coverage {
  active: number;
  priced: number;
  /** priced / active as a percentage with two decimals, exact text ("90.00"); "0.00" with no active model. */
  percent: string;
  /** Active models without a current price, sorted. */
  unpriced: string[];
}

/** Active models, how many have a current (open) price version, and which do not. */
export async function coverage(db: Kysely<Schema>): Promise<Coverage> {
  const rows = await db
    .selectFrom('models')
    .leftJoin('model_prices', (join) =>
      join.onRef('model_prices.model_id', '=', 'models.id').on('model_prices.effective_until', 'is', null),
    )
    .select(['models.id as id', 'model_prices.id as version'])
    .where('models.active', '=', true)
    .execute();
  return computeCoverage(
    rows.map((row) => row.id),
    new Set(rows.filter((row) => row.version !== null).map((row) => row.id)),
  );
}

/** Coverage of `activeIds` by `pricedIds`, with the percentage rounded half-up to two decimals in integers. */
export function computeCoverage(activeIds: Iterable<string>, pricedIds: ReadonlySet<string>): Coverage {
  const active = [...new Set(activeIds)];
  const unpriced = active.filter((id) => !pricedIds.has(id)).sort();
  const priced = active.length - unpriced.length;
  return { active: active.length, priced, percent: percentText(priced, active.length), unpriced };
}

export function percentText(part: number, whole: number): string {
  if (whole === 0) return '0.00';
  const hundredths = (BigInt(part) * 20000n + BigInt(whole)) / (2n * BigInt(whole));
  return `${hundredths / 100n}.${(hundredths % 100n).toString().padStart(2, '0')}`;
}
