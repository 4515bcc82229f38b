import { ROLLUP_TABLES, type Bucket, type Dimension, type RollupTable } from './rollup-tables.js';

/** What a summary can group by. Times are UTC hours, days and months. */
export const GROUP_KEYS = ['hour', 'day', 'month', 'account', 'key', 'end_user', 'model', 'provider'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];
export const TIME_KEYS: readonly GroupKey[] = ['hour', 'day', 'month'];

export interface SummaryFilters {
  accountId?: string;
  keyId?: string;
  model?: string;
  provider?: string;
  endUser?: string;
}

export interface SummaryQuery {
  groupBy: GroupKey[];
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  filters: SummaryFilters;
}

/** A part of the range and where it is read from: a rollup, or (for the parts of an hour at the edges) the records. */
export type Segment =
  { source: 'rollup'; rollup: RollupTable; from: Date; to: Date } | { source: 'records'; from: Date; to: Date };

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Splits [from, to) into pieces, each read from the coarsest source that can answer it: whole UTC months
 * from a monthly rollup, the whole days around them from a daily one, the whole hours around those from an
 * hourly one, and only the pieces of an hour at either edge from the records themselves (at most two hours,
 * through the time index). A summary grouped by day reads no month rollup, one grouped by hour only hours.
 * Of each bucket, the smallest rollup that has every dimension the summary groups or filters by
 * (src/reports/rollup-tables.ts); where no rollup of a bucket has them (end users by the hour), that part
 * is read from the records.
 *
 * @example
 *   // from 2026-10-30T10:30 to 2026-12-02T00:00, by model:
 *   // records [10:30, 11:00), hourly [11:00, 10-31), daily [10-31, 11-01), monthly [11-01, 12-01), daily [12-01, 12-02)
 */
export function planSegments(query: SummaryQuery): Segment[] {
  const needed = dimensionsOf(query);
  const finest: Bucket = query.groupBy.includes('hour') ? 'hour' : query.groupBy.includes('day') ? 'day' : 'month';
  const from = query.from.getTime();
  const to = query.to.getTime();
  const hourStart = ceilTo(from, 'hour');
  const hourEnd = floorTo(to, 'hour');
  if (hourStart >= hourEnd) return [records(from, to)];
  const segments: Segment[] = [];
  if (from < hourStart) segments.push(records(from, hourStart));
  segments.push(...wholeUnits(hourStart, hourEnd, BUCKETS.indexOf(finest), needed));
  if (hourEnd < to) segments.push(records(hourEnd, to));
  return segments;
}

/** Coarsest first. */
const BUCKETS: readonly Bucket[] = ['month', 'day', 'hour'];

/** [from, to), on whole hours, from the bucket at `level` where it fits and finer buckets around it. */
function wholeUnits(from: number, to: number, level: number, needed: Dimension[]): Segment[] {
  if (from >= to) return [];
  const bucket = BUCKETS[level]!;
  const table = ROLLUP_TABLES.find(
    (candidate) => candidate.bucket === bucket && needed.every((dimension) => candidate.dimensions.includes(dimension)),
  );
  if (bucket === 'hour') return [table ? rollup(table, from, to) : records(from, to)];
  const unitStart = ceilTo(from, bucket);
  const unitEnd = floorTo(to, bucket);
  if (!table || unitStart >= unitEnd) return wholeUnits(from, to, level + 1, needed);
  return [
    ...wholeUnits(from, unitStart, level + 1, needed),
    rollup(table, unitStart, unitEnd),
    ...wholeUnits(unitEnd, to, level + 1, needed),
  ];
}

/** The dimensions a summary groups or filters by. */
export function dimensionsOf(query: SummaryQuery): Dimension[] {
  const needed = new Set<Dimension>();
  for (const key of query.groupBy) if (!TIME_KEYS.includes(key)) needed.add(key as Dimension);
  const { accountId, keyId, model, provider, endUser } = query.filters;
  if (accountId !== undefined) needed.add('account');
  if (keyId !== undefined) needed.add('key');
  if (model !== undefined) needed.add('model');
  if (provider !== undefined) needed.add('provider');
  if (endUser !== undefined) needed.add('end_user');
  return [...needed];
}

function records(from: number, to: number): Segment {
  return { source: 'records', from: new Date(from), to: new Date(to) };
}

function rollup(table: RollupTable, from: number, to: number): Segment {
  return { source: 'rollup', rollup: table, from: new Date(from), to: new Date(to) };
}

/** The first start of a bucket at or after `time` (UTC). */
function ceilTo(time: number, bucket: Bucket): number {
  const floor = floorTo(time, bucket);
  return floor === time ? time : next(floor, bucket);
}

/** The start of the bucket `time` falls in (UTC). */
function floorTo(time: number, bucket: Bucket): number {
  // UTC hours and days are whole multiples of their length since the epoch (JavaScript time has no leap seconds).
  if (bucket === 'hour') return Math.floor(time / HOUR_MS) * HOUR_MS;
  if (bucket === 'day') return Math.floor(time / DAY_MS) * DAY_MS;
  const date = new Date(time);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

function next(start: number, bucket: Bucket): number {
  if (bucket === 'hour') return start + HOUR_MS;
  if (bucket === 'day') return start + DAY_MS;
  const date = new Date(start);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}
