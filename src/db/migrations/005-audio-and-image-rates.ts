import { sql, type Kysely } from 'kysely';

/**
 * Rates for models that are not priced by the token (issue 12): `audio_second`, USD per second of input audio
 * (whisper-1 at $0.006 a minute is 0.0001; LiteLLM `input_cost_per_second`), and `image_rates`, per-image
 * prices by size and quality (`[{"size": "1024x1024", "quality": "hd", "rate": "0.08"}]`; dall-e-3 costs $0.04
 * standard and $0.08 hd at that size). `per_image` stays the flat rate of a model whose images cost the same
 * whatever their size. Both are part of a price version, like every other rate: never updated in place.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('model_prices')
    .addColumn('audio_second', 'numeric')
    .addColumn('image_rates', 'jsonb', (column) => column.notNull().defaultTo(sql`'[]'::jsonb`))
    .execute();
  await db.schema
    .alterTable('model_prices')
    .addCheckConstraint('model_prices_audio_second_not_negative', sql`coalesce(audio_second, 0) >= 0`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('model_prices').dropConstraint('model_prices_audio_second_not_negative').execute();
  await db.schema.alterTable('model_prices').dropColumn('image_rates').dropColumn('audio_second').execute();
}
