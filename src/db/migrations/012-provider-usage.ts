import type { Kysely } from 'kysely';

/**
 * The provider's usage as it reported it (the `usage` object of its answer, before normalisation) moves from the
 * call's capture entry to its usage record. The ledger keeps what money moved; the record keeps what the call
 * was, and is where the request log reads it.
 *
 * Before, a capture carried the normalised usage, the raw usage and the breakdown as JSON that nothing read
 * back (the record already held the token counts and the breakdown): about 1 KB per call written twice, in
 * the ledger and in the journal, and close to half of what inserting a capture cost PostgreSQL (README,
 * "What a capture row costs PostgreSQL"). Captures written before this migration keep theirs; the request log
 * reads a record's raw usage from its capture when the record has none.
 *
 * `json`, not `jsonb`: the text as the provider wrote it, its keys in their order, checked but not converted (about
 * 260 bytes for an OpenAI usage object, where `jsonb` took 370); nothing queries inside it. A nullable column
 * without a default: adding it rewrites no row, on the partitioned table and each month.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('usage_records').addColumn('provider_usage', 'json').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('usage_records').dropColumn('provider_usage').execute();
}
