import { sql, type Kysely } from 'kysely';

/** Token counts of a usage record: `integer` lost a record of 10^12 reported tokens (a range error). */
const TOKEN_COLUMNS = [
  'input_uncached_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'input_audio_tokens',
  'output_text_tokens',
  'reasoning_tokens',
  'output_audio_tokens',
];

/**
 * Fault tolerance:
 * - `idempotency_keys.response` becomes JSON text (see below);
 * - `gateway_instances`: every gateway process registers and heartbeats (the database's clock), so the holds and
 *   credit leases it owns, and the idempotency keys it claimed, are released or taken over soon after it dies
 *   instead of after a fixed age;
 * - `ledger_entries.owner_id` and `idempotency_keys.owner_id` name that owner;
 * - usage records count tokens in `bigint`, and flag usage the upstream reported beyond what the call could
 *   produce (`usage_anomaly`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('gateway_instances')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('host', 'text', (column) => column.notNull())
    .addColumn('pid', 'integer', (column) => column.notNull())
    .addColumn('started_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('heartbeat_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('stopped_at', 'timestamptz')
    .execute();

  await db.schema.alterTable('ledger_entries').addColumn('owner_id', 'text').execute();
  await db.schema
    .createIndex('ledger_entries_open_owner')
    .on('ledger_entries')
    .column('owner_id')
    .where(sql.ref('kind'), '=', 'hold')
    .execute();
  await db.schema.alterTable('idempotency_keys').addColumn('owner_id', 'text').execute();
  // A stored answer is replayed byte for byte: JSON text, since jsonb refuses a string holding \u0000 (an
  // upstream may answer with one) and would fail the call after it was charged.
  await db.schema
    .alterTable('idempotency_keys')
    .alterColumn('response', (alter) => alter.setDataType(sql`text using response::text`))
    .execute();

  for (const column of TOKEN_COLUMNS) {
    await db.schema
      .alterTable('usage_records')
      .alterColumn(column, (alter) => alter.setDataType('bigint'))
      .execute();
  }
  await db.schema.alterTable('usage_records').addColumn('usage_anomaly', 'jsonb').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('usage_records').dropColumn('usage_anomaly').execute();
  for (const column of TOKEN_COLUMNS) {
    await db.schema
      .alterTable('usage_records')
      .alterColumn(column, (alter) => alter.setDataType('integer'))
      .execute();
  }
  await db.schema
    .alterTable('idempotency_keys')
    .alterColumn('response', (alter) => alter.setDataType(sql`jsonb using response::jsonb`))
    .execute();
  await db.schema.alterTable('idempotency_keys').dropColumn('owner_id').execute();
  await db.schema.dropIndex('ledger_entries_open_owner').ifExists().execute();
  await db.schema.alterTable('ledger_entries').dropColumn('owner_id').execute();
  await db.schema.dropTable('gateway_instances').execute();
}
