import { sql, type Kysely } from 'kysely';

/**
 * Pricing fidelity (issue 11): what a source declares about a model's names, and prices that depend on the
 * time of day, both part of a price version (never updated in place, like every rate).
 *
 * - `match_rule`: the name rule the source declares for the model (genai-prices' `match` clause, LiteLLM's and
 *   OpenRouter's canonical slugs as `equals`), e.g. `{"or": [{"equals": "o1"}, {"equals": "o1-preview"}]}`;
 *   null when it declares none. Resolution applies it with match kind `alias`.
 * - `windows`: UTC time-of-day windows with their own rates and tiers, which replace the version's base ones
 *   while in force (DeepSeek's standard price from 00:30 to 16:30 UTC, its off-peak price otherwise):
 *   `[{"start_time": "00:30:00", "end_time": "16:30:00", "rates": {"input": "0.00000055"}, "tiers": []}]`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('model_prices')
    .addColumn('match_rule', 'jsonb')
    .addColumn('windows', 'jsonb', (column) => column.notNull().defaultTo(sql`'[]'::jsonb`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('model_prices').dropColumn('windows').dropColumn('match_rule').execute();
}
