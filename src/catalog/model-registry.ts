import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import type { ImportedEntry } from './importers/types.js';

/** One model to register: the shape of `catalog_models.json` (`{"models": [...]}`). */
export interface RegisterModel {
  id: string;
  provider: string;
  upstream_model: string;
  active: boolean;
  modality: string;
  context_window?: number | null;
  max_output_tokens?: number | null;
}

/** The model an imported price entry describes, to register it (seeding with --register-models, sync of new models). */
export function registrationOf(entry: ImportedEntry): RegisterModel {
  return {
    id: entry.modelId,
    provider: entry.providerId,
    upstream_model: entry.upstreamModel,
    active: true,
    modality: entry.modality,
    context_window: entry.contextWindow ?? null,
    max_output_tokens: entry.maxOutputTokens ?? null,
  };
}

/** Rows per INSERT statement: large imports stay a handful of statements, each well under parameter limits. */
export const INSERT_BATCH = 500;

/**
 * Registers the models not yet in the catalog (creating their provider rows when missing); models already
 * registered are left as they are and counted unchanged.
 */
export async function registerModels(
  db: Kysely<Schema>,
  models: RegisterModel[],
): Promise<{ inserted: number; unchanged: number }> {
  const work = async (transaction: Kysely<Schema>) => {
    const existing = new Set((await transaction.selectFrom('models').select('id').execute()).map((row) => row.id));
    const fresh = new Map<string, RegisterModel>();
    for (const model of models) if (!existing.has(model.id)) fresh.set(model.id, model);
    await insertModels(transaction, [...fresh.values()]);
    return { inserted: fresh.size, unchanged: models.length - fresh.size };
  };
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}

/** Inserts models (ids known to be new) and any provider rows they need, in batches. */
export async function insertModels(db: Kysely<Schema>, models: RegisterModel[]): Promise<void> {
  const providers = [...new Set(models.map((model) => model.provider))];
  for (let start = 0; start < providers.length; start += INSERT_BATCH) {
    const batch = providers.slice(start, start + INSERT_BATCH);
    await db
      .insertInto('providers')
      .values(batch.map((id) => ({ id, name: id })))
      .onConflict((conflict) => conflict.column('id').doNothing())
      .execute();
  }
  for (let start = 0; start < models.length; start += INSERT_BATCH) {
    const batch = models.slice(start, start + INSERT_BATCH);
    await db
      .insertInto('models')
      .values(
        batch.map((model) => ({
          id: model.id,
          provider_id: model.provider,
          upstream_model: model.upstream_model,
          active: model.active,
          modality: model.modality,
          context_window: model.context_window ?? null,
          max_output_tokens: model.max_output_tokens ?? null,
        })),
      )
      .execute();
  }
}

/**
 * Reads `catalog_models.json`'s shape into RegisterModel rows.
 * @throws Error naming the file and the entry when a field is missing or of the wrong type.
 */
export function readRegisterModels(document: unknown, file: string): RegisterModel[] {
  const list = document !== null && typeof document === 'object' ? (document as { models?: unknown }).models : undefined;
  if (!Array.isArray(list)) throw new Error(`${file}: expected {"models": [...]}`);
  return list.map((item: unknown, index) => {
    const model = (item ?? {}) as Record<string, unknown>;
    for (const field of ['id', 'provider', 'upstream_model', 'modality']) {
      if (typeof model[field] !== 'string' || model[field] === '') {
        throw new Error(`${file}: models[${index}]: "${field}" must be a non-empty string`);
      }
    }
    if (typeof model.active !== 'boolean') throw new Error(`${file}: models[${index}]: "active" must be true or false`);
    return {
      id: model.id as string,
      provider: model.provider as string,
      upstream_model: model.upstream_model as string,
      active: model.active,
      modality: model.modality as string,
    };
  });
}
