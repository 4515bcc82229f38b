import { sql, type Kysely } from 'kysely';

/** The first schema. Landed migrations are never edited: a change is a new file. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('providers')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('models')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('provider_id', 'text', (column) => column.notNull().references('providers.id'))
    .addColumn('upstream_model', 'text', (column) => column.notNull())
    .addColumn('active', 'boolean', (column) => column.notNull().defaultTo(true))
    .addColumn('modality', 'text', (column) => column.notNull().defaultTo('text'))
    .addColumn('context_window', 'integer')
    .addColumn('max_output_tokens', 'integer')
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('models_lower_id')
    .on('models')
    .expression(sql`lower(id)`)
    .execute();

  await db.schema
    .createTable('model_aliases')
    .addColumn('alias', 'text', (column) => column.primaryKey())
    .addColumn('model_id', 'text', (column) => column.notNull().references('models.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute();

  const rate = 'numeric';
  await db.schema
    .createTable('model_prices')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('model_id', 'text', (column) => column.notNull().references('models.id'))
    .addColumn('effective_from', 'timestamptz', (column) => column.notNull())
    .addColumn('effective_until', 'timestamptz')
    .addColumn('input', rate)
    .addColumn('output', rate)
    .addColumn('cache_read', rate)
    .addColumn('cache_write', rate)
    .addColumn('cache_write_1h', rate)
    .addColumn('reasoning', rate)
    .addColumn('input_audio', rate)
    .addColumn('output_audio', rate)
    .addColumn('per_request', rate)
    .addColumn('per_image', rate)
    .addColumn('tiers', 'jsonb', (column) => column.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('source', 'text', (column) => column.notNull())
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      'model_prices_rates_not_negative',
      sql`coalesce(input, 0) >= 0 and coalesce(output, 0) >= 0 and coalesce(cache_read, 0) >= 0
        and coalesce(cache_write, 0) >= 0 and coalesce(cache_write_1h, 0) >= 0 and coalesce(reasoning, 0) >= 0
        and coalesce(input_audio, 0) >= 0 and coalesce(output_audio, 0) >= 0
        and coalesce(per_request, 0) >= 0 and coalesce(per_image, 0) >= 0`,
    )
    .addCheckConstraint('model_prices_period', sql`effective_until is null or effective_until > effective_from`)
    .execute();
  // At most one open version per model: "the price now" is unambiguous.
  await db.schema
    .createIndex('model_prices_one_current')
    .on('model_prices')
    .column('model_id')
    .unique()
    .where(sql.ref('effective_until'), 'is', null)
    .execute();
  await db.schema.createIndex('model_prices_model_period').on('model_prices').columns(['model_id', 'effective_from']).execute();

  await db.schema
    .createTable('markup_rules')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('scope', 'text', (column) => column.notNull().check(sql`scope in ('global', 'provider', 'model', 'account')`))
    .addColumn('target', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('percent', 'numeric')
    .addColumn('fixed_fee', 'numeric', (column) => column.check(sql`fixed_fee is null or fixed_fee >= 0`))
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('markup_rules_scope_target', ['scope', 'target'])
    .execute();

  await db.schema
    .createTable('accounts')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('name', 'text', (column) => column.notNull().unique())
    .addColumn('budget_mode', 'text', (column) =>
      column.notNull().check(sql`budget_mode in ('consumption_usd', 'consumption_tokens', 'job_based')`),
    )
    .addColumn('balance', 'numeric', (column) => column.notNull().defaultTo(0))
    .addColumn('available', 'numeric', (column) => column.notNull().defaultTo(0))
    .addColumn('job_price', 'numeric', (column) => column.check(sql`job_price is null or job_price >= 0`))
    .addColumn('markup_percent', 'numeric')
    .addColumn('markup_fixed_fee', 'numeric')
    .addColumn('status', 'text', (column) =>
      column
        .notNull()
        .defaultTo('active')
        .check(sql`status in ('active', 'suspended')`),
    )
    .addColumn('overdraft_limit', 'numeric', (column) =>
      column
        .notNull()
        .defaultTo(0)
        .check(sql`overdraft_limit >= 0`),
    )
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    // The database itself refuses an overdraw beyond the account's policy, whatever the code does.
    .addCheckConstraint('accounts_no_overdraw', sql`available >= -overdraft_limit and balance >= -overdraft_limit`)
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('account_id', 'text', (column) => column.references('accounts.id'))
    .addColumn('prefix', 'text', (column) => column.notNull().unique())
    .addColumn('hash', 'text', (column) => column.notNull().unique())
    .addColumn('scope', 'text', (column) => column.notNull().check(sql`scope in ('user', 'admin')`))
    .addColumn('name', 'text')
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('ledger_entries')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
    .addColumn('kind', 'text', (column) =>
      column.notNull().check(sql`kind in ('grant', 'hold', 'capture', 'release', 'refund', 'adjust')`),
    )
    .addColumn('amount', 'numeric', (column) => column.notNull())
    .addColumn('unit', 'text', (column) => column.notNull().check(sql`unit in ('usd', 'tokens')`))
    .addColumn('request_id', 'text', (column) => column.notNull())
    .addColumn('idempotency_key', 'text')
    .addColumn('price_version', 'bigint')
    .addColumn('usage', 'jsonb')
    .addColumn('breakdown', 'jsonb')
    .addColumn('note', 'text')
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    // A retry cannot write a second capture (or hold, or release) for the same request.
    .addUniqueConstraint('ledger_entries_request_kind', ['request_id', 'kind'])
    .execute();
  await db.schema.createIndex('ledger_entries_account').on('ledger_entries').columns(['account_id', 'id']).execute();

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
    .addColumn('key', 'text', (column) => column.notNull())
    .addColumn('request_hash', 'text', (column) => column.notNull())
    .addColumn('request_id', 'text', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('response', 'jsonb')
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['account_id', 'key'])
    .execute();

  await db.schema
    .createTable('usage_records')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('request_id', 'text', (column) => column.notNull().unique())
    .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
    .addColumn('api_key_id', 'text')
    .addColumn('requested_model', 'text', (column) => column.notNull())
    .addColumn('model_id', 'text')
    .addColumn('provider_id', 'text')
    .addColumn('upstream_model', 'text')
    .addColumn('input_uncached_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('cache_read_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('cache_write_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('input_audio_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('output_text_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('reasoning_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('output_audio_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('usage_estimated', 'boolean', (column) => column.notNull().defaultTo(false))
    .addColumn('price_version', 'bigint')
    .addColumn('breakdown', 'jsonb')
    .addColumn('provider_cost', 'numeric', (column) => column.notNull().defaultTo(0))
    .addColumn('charge', 'numeric', (column) => column.notNull().defaultTo(0))
    .addColumn('debit', 'numeric', (column) => column.notNull().defaultTo(0))
    .addColumn('debit_unit', 'text', (column) => column.notNull())
    .addColumn('pricing_source', 'text')
    .addColumn('pricing_match', 'text')
    .addColumn('latency_ms', 'integer')
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('error_code', 'text')
    .addColumn('stream', 'boolean', (column) => column.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('usage_records_account_time').on('usage_records').columns(['account_id', 'created_at']).execute();
  await db.schema.createIndex('usage_records_model_time').on('usage_records').columns(['model_id', 'created_at']).execute();

  await db.schema
    .createTable('sync_runs')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('source', 'text', (column) => column.notNull())
    .addColumn('url', 'text')
    .addColumn('mode', 'text', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('started_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addColumn('result', 'jsonb')
    .addColumn('error', 'text')
    .execute();

  await db.schema
    .createTable('alerts')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('kind', 'text', (column) => column.notNull())
    .addColumn('message', 'text', (column) => column.notNull())
    .addColumn('details', 'jsonb')
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('delivered_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'alerts',
    'sync_runs',
    'usage_records',
    'idempotency_keys',
    'ledger_entries',
    'api_keys',
    'accounts',
    'markup_rules',
    'model_prices',
    'model_aliases',
    'models',
    'providers',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
