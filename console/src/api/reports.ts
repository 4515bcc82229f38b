import { useQuery } from '@tanstack/react-query';
import { api, type QueryValue } from './http.ts';
import type { Count, UsageDimension, UsageRow, UsageSummary } from './types.ts';
import { compareAmounts, sumAmounts } from '../format/amounts.ts';

export interface SummaryQuery {
  groupBy: UsageDimension[];
  from: Date;
  to: Date;
  account?: string;
  key?: string;
  model?: string;
  provider?: string;
}

/**
 * A usage summary from the reports API (answered from rollups, never a scan of raw records): the operator's
 * `/admin/usage/summary`, or a customer's own `/account/usage/summary`.
 */
export function useUsageSummary(scope: 'admin' | 'customer', query: SummaryQuery, options: { enabled?: boolean } = {}) {
  const parameters: Record<string, QueryValue> = {
    group_by: query.groupBy.join(','),
    from: query.from.toISOString(),
    to: query.to.toISOString(),
    account: query.account,
    key: query.key,
    model: query.model,
    provider: query.provider,
  };
  return useQuery({
    queryKey: ['usage', scope, 'summary', parameters],
    queryFn: () =>
      api<UsageSummary>(scope === 'admin' ? '/admin/usage/summary' : '/account/usage/summary', { query: parameters }),
    enabled: options.enabled ?? true,
  });
}

/** The rows with the largest charge first (compared exactly), the first `count` of them. */
export function topByCharge(rows: UsageRow[], count: number): UsageRow[] {
  return [...rows].sort((a, b) => compareAmounts(b.charge, a.charge)).slice(0, count);
}

const TOKEN_COUNTS = [
  'input_uncached_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'input_audio_tokens',
  'output_text_tokens',
  'reasoning_tokens',
  'output_audio_tokens',
] as const;

/** Every token of every kind, summed as integers (a count past 2^53 arrives as text). */
export function totalTokens(figures: Record<(typeof TOKEN_COUNTS)[number], Count>): string {
  return TOKEN_COUNTS.reduce((sum, name) => sum + BigInt(figures[name]), 0n).toString();
}

/** Input tokens of every kind (uncached, cache read and write, audio). */
export function inputTokens(figures: Record<(typeof TOKEN_COUNTS)[number], Count>): string {
  return TOKEN_COUNTS.slice(0, 4)
    .reduce((sum, name) => sum + BigInt(figures[name]), 0n)
    .toString();
}

/** Output tokens of every kind (text, reasoning, audio). */
export function outputTokens(figures: Record<(typeof TOKEN_COUNTS)[number], Count>): string {
  return TOKEN_COUNTS.slice(4)
    .reduce((sum, name) => sum + BigInt(figures[name]), 0n)
    .toString();
}

/**
 * Rows grouped by (bucket, series) into a chart's stacks: the `keep` series with the largest charge by name,
 * the rest summed into "other", every amount summed exactly.
 */
export function stackRows(rows: UsageRow[], bucket: UsageDimension, seriesBy: UsageDimension, keep = 8) {
  const label = (row: UsageRow) => String(row[seriesBy] ?? '(none)');
  const buckets = [...new Set(rows.map((row) => String(row[bucket] ?? '')))].sort();
  const totals = new Map<string, string[]>();
  for (const row of rows) totals.set(label(row), [...(totals.get(label(row)) ?? []), row.charge]);
  const ranked = [...totals.entries()]
    .map(([name, charges]) => [name, sumAmounts(charges)] as const)
    .sort((a, b) => compareAmounts(b[1], a[1]));
  const kept = new Set(ranked.slice(0, keep).map(([name]) => name));
  const names = [...ranked.slice(0, keep).map(([name]) => name), ...(ranked.length > keep ? ['other'] : [])];
  const series = names.map((name) => ({
    label: name,
    values: buckets.map((value) =>
      sumAmounts(
        rows
          .filter(
            (row) => String(row[bucket] ?? '') === value && (name === 'other' ? !kept.has(label(row)) : label(row) === name),
          )
          .map((row) => row.charge),
      ),
    ),
  }));
  return { buckets, series };
}
