import { stringify } from 'csv-stringify/sync';
import type { Db } from '../db/database.js';
import type { GroupKey } from './summary-plan.js';
import { COUNTER_NAMES, countersJson } from './usage-counters.js';
import type { Summary } from './usage-summary.js';

/**
 * The summary as the report API and the CLI print it: group keys, then the counters; money as exact decimal
 * strings, counts as numbers (strings past 2^53). An account group also names the account
 * (`account_name`), a key group its prefix (`key_prefix`). Times: `hour` as an ISO instant, `day` as
 * `YYYY-MM-DD`, `month` as `YYYY-MM`, all UTC.
 */
export type SummaryJsonRow = Record<string, string | number | null>;

export interface SummaryJson {
  group_by: GroupKey[];
  from: string;
  to: string;
  rows: SummaryJsonRow[];
  totals: Record<string, string | number>;
}

export async function summaryJson(db: Db, summary: Summary): Promise<SummaryJson> {
  const { groupBy } = summary.query;
  const names = await lookUpNames(db, summary);
  return {
    group_by: groupBy,
    from: summary.query.from.toISOString(),
    to: summary.query.to.toISOString(),
    rows: summary.rows.map((row) => {
      const keys: SummaryJsonRow = {};
      for (const key of groupBy) {
        const value = row.keys[key] ?? null;
        keys[key] = value instanceof Date ? formatTime(key, value) : value;
        if (key === 'account') keys.account_name = value === null ? null : (names.accounts.get(value as string) ?? null);
        if (key === 'key') keys.key_prefix = value === null ? null : (names.keys.get(value as string) ?? null);
      }
      return { ...keys, ...countersJson(row.counters) };
    }),
    totals: countersJson(summary.totals),
  };
}

/** The CSV columns of a summary: its group keys (with the names beside them), then every counter. */
export function summaryColumns(groupBy: GroupKey[]): string[] {
  const columns: string[] = [];
  for (const key of groupBy) {
    columns.push(key);
    if (key === 'account') columns.push('account_name');
    if (key === 'key') columns.push('key_prefix');
  }
  return [...columns, ...COUNTER_NAMES];
}

/** RFC 4180 CSV with a header row; the totals are not a row (sum the column, or ask for JSON). */
export function summaryCsv(json: SummaryJson): string {
  const columns = summaryColumns(json.group_by);
  return stringify(
    json.rows.map((row) => columns.map((column) => row[column] ?? '')),
    { header: true, columns, record_delimiter: 'unix' },
  );
}

function formatTime(key: GroupKey, time: Date): string {
  const iso = time.toISOString();
  if (key === 'day') return iso.slice(0, 10);
  if (key === 'month') return iso.slice(0, 7);
  return `${iso.slice(0, 19)}Z`;
}

async function lookUpNames(db: Db, summary: Summary) {
  const accountIds = new Set<string>();
  const keyIds = new Set<string>();
  for (const row of summary.rows) {
    if (typeof row.keys.account === 'string') accountIds.add(row.keys.account);
    if (typeof row.keys.key === 'string') keyIds.add(row.keys.key);
  }
  const accounts = new Map<string, string>();
  const keys = new Map<string, string>();
  if (accountIds.size > 0) {
    for (const row of await db
      .selectFrom('accounts')
      .select(['id', 'name'])
      .where('id', 'in', [...accountIds])
      .execute()) {
      accounts.set(row.id, row.name);
    }
  }
  if (keyIds.size > 0) {
    for (const row of await db
      .selectFrom('api_keys')
      .select(['id', 'prefix'])
      .where('id', 'in', [...keyIds])
      .execute()) {
      keys.set(row.id, row.prefix);
    }
  }
  return { accounts, keys };
}
