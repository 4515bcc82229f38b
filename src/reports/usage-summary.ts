import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/database.js';
import { DIMENSION_COLUMNS, ROLLUP_MONEY_COLUMNS, ROLLUP_TOKEN_COLUMNS, type Dimension } from './rollup-tables.js';
import { filterConditions } from './report-filters.js';
import { planSegments, TIME_KEYS, type GroupKey, type Segment, type SummaryQuery } from './summary-plan.js';
import { addCounters, countersFromRow, zeroCounters, type UsageCounters } from './usage-counters.js';

/** One group of a summary: its keys (time buckets as `Date`, the rest as text; absent dimensions null) and counts. */
export interface SummaryRow {
  keys: Partial<Record<GroupKey, Date | string | null>>;
  counters: UsageCounters;
}

export interface Summary {
  query: SummaryQuery;
  rows: SummaryRow[];
  totals: UsageCounters;
  /** Where each part of the range was read from (for the curious, and the benchmark). */
  segments: Segment[];
}

/**
 * A usage summary: counts grouped by any of hour, day, month, account, key, end user, model and provider,
 * over [from, to), read from the rollups (src/reports/summary-plan.ts decides which) with only the pieces of
 * an hour at the edges read from the records. One statement: every part grouped where it is read, then
 * summed together; NUMERIC sums keep money exact.
 *
 * Rows are ordered by their time keys (oldest first), then by charge (largest first), then by their other keys.
 *
 * `source: 'records'` answers the same question from a scan of the records alone (never the rollups): what
 * the rollups spare, for the benchmark (bench/reports.bench.ts) and for checking them against the records.
 */
export async function summarizeUsage(
  db: Db,
  query: SummaryQuery,
  options: { source?: 'rollups' | 'records' } = {},
): Promise<Summary> {
  const segments: Segment[] =
    options.source === 'records' ? [{ source: 'records', from: query.from, to: query.to }] : planSegments(query);
  const parts = segments.map((segment) => segmentQuery(segment, query));
  const keyColumns = query.groupBy.map((key) => sql.id(groupColumn(key)));
  const counters = COUNTERS.map((column) => sql`sum(${sql.id(column)}) as ${sql.id(column)}`);
  // One part (the usual case: a range of whole days or months) is already grouped and summed as asked.
  const result = await sql<Record<string, unknown>>`${
    parts.length === 1
      ? parts[0]!
      : sql`select ${sql.join([...keyColumns, ...counters])}
          from (${sql.join(parts, sql` union all `)}) as parts
          ${query.groupBy.length > 0 ? sql`group by ${sql.join(keyColumns)}` : sql``}`
  }`.execute(db);
  const rows: SummaryRow[] = [];
  for (const row of result.rows) {
    const counted = countersFromRow(row);
    // An ungrouped summary over no calls is one row of nulls: the totals say it, with no row.
    if (counted.calls === 0n && query.groupBy.length === 0) continue;
    const keys: SummaryRow['keys'] = {};
    for (const key of query.groupBy) {
      const value = row[groupColumn(key)];
      keys[key] = value instanceof Date ? value : value === '' || value === null || value === undefined ? null : String(value);
    }
    rows.push({ keys, counters: counted });
  }
  rows.sort((left, right) => compareRows(left, right, query.groupBy));
  const totals = rows.reduce((sum, row) => addCounters(sum, row.counters), zeroCounters());
  return { query, rows, totals, segments };
}

const COUNTERS = ['calls', 'errors', ...ROLLUP_TOKEN_COLUMNS, ...ROLLUP_MONEY_COLUMNS] as const;

function groupColumn(key: GroupKey): string {
  return `group_${key}`;
}

/** One segment's select: its group keys and counters, from its rollup or from the records. */
function segmentQuery(segment: Segment, query: SummaryQuery): RawBuilder<unknown> {
  const rollup = segment.source === 'rollup';
  const time = rollup ? sql.ref('bucket') : sql.ref('created_at');
  const timeValues: Partial<Record<GroupKey, RawBuilder<unknown>>> = {
    hour: sql`date_trunc('hour', ${time}, 'UTC')`,
    day: sql`date_trunc('day', ${time}, 'UTC')`,
    month: sql`date_trunc('month', ${time}, 'UTC')`,
  };
  // A rollup holds each dimension in its own column; from the records, it is computed as the writer does.
  const dimensionValue = (dimension: Dimension) =>
    rollup ? sql.ref(DIMENSION_COLUMNS[dimension].column) : DIMENSION_COLUMNS[dimension].fromRecord;
  const keys = query.groupBy.map(
    (key) => sql`${timeValues[key] ?? dimensionValue(key as Dimension)} as ${sql.id(groupColumn(key))}`,
  );
  const counts = rollup
    ? [sql`sum(calls)::numeric as calls`, sql`sum(errors)::numeric as errors`]
    : [sql`count(*)::numeric as calls`, sql`(count(*) filter (where status = 'error'))::numeric as errors`];
  const sums = [...ROLLUP_TOKEN_COLUMNS, ...ROLLUP_MONEY_COLUMNS].map(
    (column) => sql`coalesce(sum(${sql.ref(column)}), 0)::numeric as ${sql.id(column)}`,
  );
  const conditions = [
    sql`${time} >= ${segment.from.toISOString()}`,
    sql`${time} < ${segment.to.toISOString()}`,
    ...filterConditions(query.filters, { rollup }),
  ];
  const table = segment.source === 'rollup' ? sql.table(segment.rollup.table) : sql.table('usage_records');
  const grouping = query.groupBy.map((_key, index) => sql.lit(index + 1));
  return sql`select ${sql.join([...keys, ...counts, ...sums])} from ${table}
    where ${sql.join(conditions, sql` and `)}
    ${grouping.length > 0 ? sql`group by ${sql.join(grouping)}` : sql``}`;
}

function compareRows(left: SummaryRow, right: SummaryRow, groupBy: GroupKey[]): number {
  for (const key of groupBy) {
    if (!TIME_KEYS.includes(key)) continue;
    const difference = (left.keys[key] as Date).getTime() - (right.keys[key] as Date).getTime();
    if (difference !== 0) return difference;
  }
  const byCharge = right.counters.money.charge.cmp(left.counters.money.charge);
  if (byCharge !== 0) return byCharge;
  for (const key of groupBy) {
    if (TIME_KEYS.includes(key)) continue;
    const [a, b] = [String(left.keys[key] ?? ''), String(right.keys[key] ?? '')];
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}
