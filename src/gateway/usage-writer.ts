import { CompiledQuery, sql, type Compilable, type Insertable, type QueryResult, type RawBuilder } from 'kysely';
import type { Db } from '../db/database.js';
import type { UsageRecordsTable } from '../db/schema.js';
import { ensureUsagePartitions, monthOf, nextMonth } from '../db/usage-partitions.js';
import { ROLLUP_MONEY_COLUMNS, ROLLUP_TOKEN_COLUMNS } from '../reports/rollup-tables.js';

type UsageRow = Insertable<UsageRecordsTable>;

/** Every column a record sets (the id is the database's). */
export const USAGE_COLUMNS = [
  'request_id',
  'account_id',
  'api_key_id',
  'end_user',
  'requested_model',
  'model_id',
  'provider_id',
  'upstream_model',
  'input_uncached_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'input_audio_tokens',
  'output_text_tokens',
  'reasoning_tokens',
  'output_audio_tokens',
  'usage_estimated',
  'usage_anomaly',
  'price_version',
  'breakdown',
  'provider_usage',
  'provider_cost',
  'markup',
  'charge',
  'debit',
  'debit_unit',
  'pricing_source',
  'pricing_match',
  'latency_ms',
  'status',
  'error_code',
  'stream',
  'created_at',
] as const satisfies ReadonlyArray<keyof UsageRow>;

/**
 * The columns that hold a JSON document, and the type each is stored as (the type goes into the statement's text,
 * from this map only). In a row each is a `JsonColumn`.
 */
const JSON_COLUMNS = {
  breakdown: 'jsonb',
  usage_anomaly: 'jsonb',
  // As the provider wrote it, its keys in their order (migration 012).
  provider_usage: 'json',
} as const satisfies Partial<Record<(typeof USAGE_COLUMNS)[number], 'json' | 'jsonb'>>;

type JsonColumnName = keyof typeof JSON_COLUMNS;

/**
 * A JSON column's value in a row: the document itself when it is an object, an array, a number or a boolean, or
 * its JSON text as a string (`"null"` for a JSON null, `"\"text\""` for a JSON string), or null for none (SQL NULL).
 * `jsonColumn` picks the form. Rows journaled by earlier versions carry every document as its text; both forms
 * are written the same.
 *
 * Why the document rather than its text: the batch's rows travel as one JSON parameter, and a document carried as
 * text inside it is escaped, then unescaped and parsed a second time by PostgreSQL. Measured on batches of 200
 * real records (one-off: the insert timed from the client, median of 15–20 batches, five alternated pairs): 10.2–12.4
 * ms with the documents nested, 11.1–17.6 ms with them as text, lower in every pair.
 */
export type JsonColumn = string | number | boolean | object | null;

/** The `JsonColumn` of `value` (`undefined`: none, SQL NULL). */
export function jsonColumn(value: unknown): JsonColumn {
  if (value === undefined) return null;
  return value === null || typeof value === 'string' ? JSON.stringify(value) : (value as JsonColumn);
}

/** A record as written: exactly the columns above, so the JSON batch carries every one of them. */
export type UsageRecordRow = {
  [Column in Exclude<(typeof USAGE_COLUMNS)[number], 'created_at' | JsonColumnName>]: UsageRow[Column];
} & { [Column in JsonColumnName]: JsonColumn } & {
  /** ISO time, set by the writer's caller: the partition key, and part of what makes a retried write a no-op. */
  created_at: string;
};

/**
 * Inserts usage records and counts them into the hourly and daily rollups, in one statement: the records
 * that were inserted (a retried record conflicts and is skipped) feed the rollup upserts through a
 * data-modifying CTE, so a rollup can never count a record that is not there, or miss one that is. Returns
 * how many records were new.
 *
 * Each rollup upsert adds its batch's groups in key order: two writers (two gateway processes on one
 * PostgreSQL) that touch the same rollup rows lock them in the same order, so they wait for each other
 * instead of deadlocking.
 */
export async function writeUsageRecords(db: Db, rows: UsageRecordRow[]): Promise<number> {
  return writeSerializedUsageRecords(
    db,
    rows.map((row) => ({ json: JSON.stringify(row), createdAt: row.created_at })),
  );
}

/** A usage record as the recorder queues it: its row's JSON (serialised once, for the journal and the insert). */
export interface SerializedUsageRecord {
  json: string;
  /** The row's created_at (ISO), which picks its month's partition. */
  createdAt: string;
}

/** `writeUsageRecords` for rows serialised already (the same statement, one JSON parameter). */
export async function writeSerializedUsageRecords(db: Db, records: SerializedUsageRecord[]): Promise<number> {
  if (records.length === 0) return 0;
  const months = new Set<string>();
  let earliest = Infinity;
  let latest = -Infinity;
  for (const record of records) {
    const createdAt = new Date(record.createdAt);
    const month = monthOf(createdAt);
    months.add(month);
    months.add(nextMonth(month));
    earliest = Math.min(earliest, createdAt.getTime());
    latest = Math.max(latest, createdAt.getTime());
  }
  await ensureUsagePartitions(db, months);
  if (records.length === 1) {
    // Alone (a quiet gateway, or a batch being retried one record at a time), a record is bound column by
    // column: a text PostgreSQL refuses inside JSON (a lone surrogate) is then stored as UTF-8 makes it (U+FFFD).
    const row = JSON.parse(records[0]!.json) as UsageRecordRow;
    if (await recordedAlready(db, row)) return 0;
    const inserted = db
      .insertInto('usage_records')
      .values(boundRow(row))
      .onConflict((conflict) => conflict.columns(['request_id', 'created_at']).doNothing())
      .returningAll();
    return recordedCount(await recordStatement(inserted).execute(db));
  }
  const json = `[${records.map((record) => record.json).join(',')}]`;
  // Two days either side: wider than the probes' window (a day, which a change of daylight saving time can
  // stretch by an hour), so no partition a probe can reach is left out.
  const span = { from: new Date(earliest - 2 * DAY_MS).toISOString(), to: new Date(latest + 2 * DAY_MS).toISOString() };
  return recordedCount(await db.executeQuery(batchStatement(db, json, span)));
}

/**
 * The row with each JSON column as its text, as a bound parameter carries it (the driver would send a JavaScript
 * array as a PostgreSQL array literal).
 */
function boundRow(row: UsageRecordRow): UsageRow {
  const bound: Record<string, unknown> = { ...row };
  for (const column of Object.keys(JSON_COLUMNS) as JsonColumnName[]) {
    const value = row[column];
    bound[column] = value === null || typeof value === 'string' ? value : JSON.stringify(value);
  }
  return bound as UsageRow;
}

function recordedCount(result: QueryResult<{ recorded: number | string }>): number {
  return Number(result.rows[0]?.recorded ?? 0);
}

/**
 * The insert, then the rollups fed by what it inserted, in one statement; it answers how many records were
 * new. The inserted records are counted once per UTC hour and every dimension any rollup has (`counted`), and
 * `tollgate_count_usage` (migration 011) adds those few rows to each rollup, with statements PostgreSQL plans
 * once per connection: planned with every batch, the eight rollup upserts cost more than inserting fifty
 * records. Each rollup upsert adds its groups in key order: two writers (two gateway processes on one
 * PostgreSQL) that touch the same rollup rows lock them in the same order, so they wait for each other
 * instead of deadlocking.
 */
function recordStatement(inserted: Compilable<unknown>): RawBuilder<{ recorded: number | string }> {
  const counters = [...ROLLUP_TOKEN_COLUMNS, ...ROLLUP_MONEY_COLUMNS];
  return sql<{ recorded: number | string }>`
    with inserted as (${inserted}),
    counted as (
      select date_trunc('hour', created_at, 'UTC') as created_at, ${sql.join(COUNTED_DIMENSIONS.map((column) => sql.ref(column)))},
        count(*) as calls, count(*) filter (where status = 'error') as errors,
        ${sql.join(counters.map((column) => sql`sum(${sql.ref(column)}) as ${sql.ref(column)}`))}
      from inserted group by ${sql.join(COUNTED_DIMENSIONS.map((_column, index) => sql.lit(index + 2)))}, 1),
    rolled_up as (select tollgate_count_usage((select json_agg(counted) from counted)))
    select (select count(*) from inserted) as recorded from rolled_up`;
}

/**
 * The record columns the rollups' dimensions are computed from: `counted`'s columns are what
 * `tollgate_count_usage` reads (migration 011's COUNTED_COLUMNS), so a dimension or counter added here is added there too.
 */
const COUNTED_DIMENSIONS = ['account_id', 'api_key_id', 'end_user', 'model_id', 'requested_model', 'provider_id'] as const;

/** Stand for the batch's JSON and its first and last created_at in the statement compiled once (no other parameter is one of these texts). */
const BATCH_JSON = 'tollgate:usage-records-json';
const BATCH_FROM = 'tollgate:usage-records-from';
const BATCH_TO = 'tollgate:usage-records-to';
const compiledBatches = new WeakMap<
  Db,
  { sql: string; parameters: readonly unknown[]; jsonAt: number; fromAt: number; toAt: number }
>();

/**
 * The statement for many records, compiled once per database handle: its text never changes, only its
 * parameters (building and compiling its eight rollup upserts took most of a batch's time in the gateway).
 */
function batchStatement(db: Db, json: string, span: { from: string; to: string }): CompiledQuery<{ recorded: number | string }> {
  let compiled = compiledBatches.get(db);
  if (!compiled) {
    const { sql: text, parameters } = recordStatement(batchInsert(db, BATCH_JSON, { from: BATCH_FROM, to: BATCH_TO })).compile(
      db,
    );
    compiled = {
      sql: text,
      parameters,
      jsonAt: parameters.indexOf(BATCH_JSON),
      fromAt: parameters.indexOf(BATCH_FROM),
      toAt: parameters.indexOf(BATCH_TO),
    };
    compiledBatches.set(db, compiled);
  }
  const parameters = [...compiled.parameters];
  parameters[compiled.jsonAt] = json;
  parameters[compiled.fromAt] = span.from;
  parameters[compiled.toAt] = span.to;
  return CompiledQuery.raw(compiled.sql, parameters) as CompiledQuery<{ recorded: number | string }>;
}

/**
 * Many rows travel as one JSON parameter, unpacked by PostgreSQL: a bound parameter per column and row cost
 * more to build and to send than the rows themselves (about a third of the insert, measured).
 */
function batchInsert(db: Db, json: string, span: { from: string; to: string }) {
  const insert = db.insertInto('usage_records');
  return insert
    .columns(USAGE_COLUMNS)
    .expression((select) =>
      select
        .selectFrom(sql<UsageRecordRow>`json_populate_recordset(null::usage_records, ${json})`.as('queued'))
        .select(
          USAGE_COLUMNS.map((column) => {
            if (!(column in JSON_COLUMNS)) return `queued.${column}` as const;
            // A document as itself, or as its JSON text (a JSON string): unwrapped and cast.
            const stored = JSON_COLUMNS[column as JsonColumnName];
            const value = sql.ref(`queued.${column}`);
            return sql<string>`case when ${sql.raw(stored)}_typeof(${value}) = 'string'
              then (${value} #>> '{}')::${sql.raw(stored)} else ${value} end`.as(column);
          }),
        )
        // A scalar subquery, probed per record through the (request id, created_at) index: as NOT EXISTS the
        // planner chose an anti-join over a scan of the whole month, which made each batch slower than the last.
        // The batch's own span (widened), as constants, lets the planner leave out every month partition the
        // probes cannot reach: planned over all of them, each batch cost more with every month kept (a sixth
        // more with two years of partitions, measured).
        .where(
          (select) =>
            select
              .selectFrom('usage_records as recorded')
              .select(sql.lit(1).as('found'))
              .whereRef('recorded.request_id', '=', 'queued.request_id')
              .where(sql<boolean>`recorded.created_at > queued.created_at - ${RECORDED_WINDOW}::interval`)
              .where(sql<boolean>`recorded.created_at < queued.created_at + ${RECORDED_WINDOW}::interval`)
              .where(sql<boolean>`recorded.created_at > ${span.from}::timestamptz`)
              .where(sql<boolean>`recorded.created_at < ${span.to}::timestamptz`)
              .limit(1),
          'is',
          null,
        ),
    )
    .onConflict((conflict) => conflict.columns(['request_id', 'created_at']).doNothing())
    .returningAll();
}

/**
 * A call is recorded once. The unique key (request id, created_at) makes a retried write of the same record a
 * no-op, but a partitioned table cannot hold a unique key on the request id alone; a second record of the
 * same request (another created_at) is refused by looking for one written within a day either side, which
 * touches at most the partitions of those days.
 */
const RECORDED_WINDOW = '1 day';
const DAY_MS = 86_400_000;

async function recordedAlready(db: Db, row: UsageRecordRow): Promise<boolean> {
  const found = await db
    .selectFrom('usage_records')
    .select('id')
    .where('request_id', '=', row.request_id)
    .where(sql<boolean>`created_at > ${row.created_at}::timestamptz - ${RECORDED_WINDOW}::interval`)
    .where(sql<boolean>`created_at < ${row.created_at}::timestamptz + ${RECORDED_WINDOW}::interval`)
    .executeTakeFirst();
  return found !== undefined;
}
