import { sql } from 'kysely';
import type { Db } from './database.js';

/**
 * The monthly partitions of `usage_records` (migration 006). A record can only be written into a month
 * that has a partition, so the writer makes sure its months exist before it inserts (and the month after,
 * so the first call of a new month finds its partition ready instead of waiting for the DDL). An old month
 * is detached (it becomes a table of its own, to archive with pg_dump) or dropped in one statement; the
 * rollups keep counting it, so summaries and statements over that month are unchanged.
 */

/** A UTC month, `YYYY-MM`. */
export type Month = string;

const MONTH_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function monthOf(time: Date): Month {
  return `${time.getUTCFullYear()}-${String(time.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** @throws RangeError for text that is not `YYYY-MM`. */
export function parseMonth(text: string): { from: Date; to: Date } {
  const match = MONTH_PATTERN.exec(text);
  if (!match) throw new RangeError(`a month is written YYYY-MM, e.g. 2026-11; got ${JSON.stringify(text)}`);
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  return { from: new Date(Date.UTC(year, index, 1)), to: new Date(Date.UTC(year, index + 1, 1)) };
}

export function nextMonth(month: Month): Month {
  return monthOf(parseMonth(month).to);
}

export function partitionName(month: Month): string {
  const { from } = parseMonth(month);
  return `usage_records_y${from.getUTCFullYear()}m${String(from.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Months known to have a partition, per database handle: the check costs a statement only once a month. */
const known = new WeakMap<object, Set<Month>>();

/** Creates the partitions of `months` that do not exist yet (several writers may race: the loser's error is ignored). */
export async function ensureUsagePartitions(db: Db, months: Iterable<Month>): Promise<void> {
  let seen = known.get(db);
  if (!seen) known.set(db, (seen = new Set()));
  for (const month of months) {
    if (seen.has(month)) continue;
    const { from, to } = parseMonth(month);
    try {
      await sql`create table if not exists ${sql.table(partitionName(month))} partition of usage_records
        for values from (${sql.lit(from.toISOString())}) to (${sql.lit(to.toISOString())})`.execute(db);
    } catch (error) {
      // Another writer created it between our "if not exists" and our create: it exists, which is all we need.
      if (!(await partitionExists(db, month))) throw error;
    }
    seen.add(month);
  }
}

async function partitionExists(db: Db, month: Month): Promise<boolean> {
  const found = await sql<{ name: string }>`select to_regclass(${partitionName(month)})::text as name`.execute(db);
  return Boolean(found.rows[0]?.name);
}

export interface UsagePartition {
  month: Month;
  table: string;
  records: number;
}

/** Every attached month partition, oldest first, with its record count. */
export async function listUsagePartitions(db: Db): Promise<UsagePartition[]> {
  const result = await sql<{ table: string }>`
    select child.relname as table from pg_inherits
    join pg_class parent on parent.oid = pg_inherits.inhparent
    join pg_class child on child.oid = pg_inherits.inhrelid
    where parent.relname = 'usage_records' order by child.relname`.execute(db);
  const partitions: UsagePartition[] = [];
  for (const { table } of result.rows) {
    const match = /^usage_records_y(\d{4})m(\d{2})$/.exec(table);
    if (!match) continue;
    const counted = await sql<{ records: number }>`select count(*) as records from ${sql.table(table)}`.execute(db);
    partitions.push({ month: `${match[1]}-${match[2]}`, table, records: Number(counted.rows[0]?.records ?? 0) });
  }
  return partitions;
}

export class PartitionRefusedError extends Error {}

/**
 * Detaches (`drop: false`: the month's records stay, as a table of their own) or drops a month's partition.
 * @throws PartitionRefusedError for the current or a later month (calls are still being written there), or
 *   a month without a partition.
 */
export async function removeUsagePartition(
  db: Db,
  month: Month,
  options: { drop: boolean; now?: Date },
): Promise<{ table: string; records: number }> {
  const current = monthOf(options.now ?? new Date());
  if (parseMonth(month).from >= parseMonth(current).from) {
    throw new PartitionRefusedError(`${month} is not over yet (this month is ${current}); only past months can be removed`);
  }
  const partition = (await listUsagePartitions(db)).find((candidate) => candidate.month === month);
  if (!partition) throw new PartitionRefusedError(`no partition of usage_records holds ${month}`);
  await sql`alter table usage_records detach partition ${sql.table(partition.table)}`.execute(db);
  if (options.drop) await sql`drop table ${sql.table(partition.table)}`.execute(db);
  known.get(db)?.delete(month);
  return { table: partition.table, records: partition.records };
}
