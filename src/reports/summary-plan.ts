import { ROLLUP_TABLES, type Dimension, type RollupTable } from './rollup-tables.js';

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
 * Splits [from, to) into the pieces each answered by the smallest source that can: whole UTC days from the
 * daily rollup, the whole hours around them from the hourly one (all of it when the summary groups by hour),
 * and only the pieces of an hour at either edge from the records themselves (at most two hours of them,
 * through the time index). Of the rollups, the smallest that has every dimension the summary groups or
 * filters by (src/reports/rollup-tables.ts).
 *
 * @example
 *   // from 2026-11-02T10:30 to 2026-11-05T00:00, not by hour:
 *   // records [10:30, 11:00), hourly [11:00, 2026-11-03T00:00), daily [2026-11-03, 2026-11-05)
 */
export function planSegments(query: SummaryQuery): Segment[] {
  const needed = dimensionsOf(query);
  const hourly = rollupFor('hour', needed);
  const daily = rollupFor('day', needed);
  const from = query.from.getTime();
  const to = query.to.getTime();
  const hourStart = ceilTo(from, HOUR_MS);
  const hourEnd = floorTo(to, HOUR_MS);
  if (hourStart >= hourEnd) return [records(from, to)];
  const segments: Segment[] = [];
  if (from < hourStart) segments.push(records(from, hourStart));
  const dayStart = ceilTo(hourStart, DAY_MS);
  const dayEnd = floorTo(hourEnd, DAY_MS);
  if (query.groupBy.includes('hour') || dayStart >= dayEnd) {
    segments.push(rollup(hourly, hourStart, hourEnd));
  } else {
    if (hourStart < dayStart) segments.push(rollup(hourly, hourStart, dayStart));
    segments.push(rollup(daily, dayStart, dayEnd));
    if (dayEnd < hourEnd) segments.push(rollup(hourly, dayEnd, hourEnd));
  }
  if (hourEnd < to) segments.push(records(hourEnd, to));
  return segments;
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

function rollupFor(bucket: 'hour' | 'day', needed: Dimension[]): RollupTable {
  // The last of each bucket has every dimension, so there is always one.
  return ROLLUP_TABLES.find(
    (table) => table.bucket === bucket && needed.every((dimension) => table.dimensions.includes(dimension)),
  )!;
}

function records(from: number, to: number): Segment {
  return { source: 'records', from: new Date(from), to: new Date(to) };
}

function rollup(table: RollupTable, from: number, to: number): Segment {
  return { source: 'rollup', rollup: table, from: new Date(from), to: new Date(to) };
}

// UTC hours and days are whole multiples of their length since the epoch (no leap seconds in JavaScript time).
function ceilTo(time: number, unit: number): number {
  return Math.ceil(time / unit) * unit;
}

function floorTo(time: number, unit: number): number {
  return Math.floor(time / unit) * unit;
}
