import { useState } from 'react';
import { Link } from 'wouter';
import { stackRows, topByCharge, totalTokens, useUsageSummary } from '../api/reports.ts';
import type { UsageDimension, UsageRow } from '../api/types.ts';
import { StackedSpendChart } from '../components/charts.tsx';
import { DataTable } from '../components/data-table.tsx';
import { ErrorNotice, Loading, Section, Stat } from '../components/feedback.tsx';
import { formatAmount, formatCount, formatShare } from '../format/amounts.ts';
import { formatDay, startOfDay, startOfMonth } from '../format/time.ts';
import { modelHref } from './catalog-page.tsx';

const DAY_MS = 86_400_000;

/** Spend today and this month, calls, tokens and errors, spend over time and the top spenders: all from the report API. */
export function OverviewPage() {
  const [now, setNow] = useState(() => new Date());
  const [stackBy, setStackBy] = useState<'model' | 'provider'>('model');
  const today = startOfDay(now);
  const month = startOfMonth(now);
  const chartFrom = new Date(today.getTime() - 29 * DAY_MS);
  const todays = useUsageSummary('admin', { groupBy: ['day'], from: today, to: now });
  const months = useUsageSummary('admin', { groupBy: ['day'], from: month, to: now });
  const spend = useUsageSummary('admin', { groupBy: ['day', stackBy], from: chartFrom, to: now });
  const error = todays.error ?? months.error ?? spend.error;
  const stacked = spend.data ? stackRows(spend.data.rows, 'day', stackBy) : undefined;
  return (
    <>
      <Section
        title="Overview"
        id="overview-title"
        actions={
          <button type="button" className="quiet" onClick={() => setNow(new Date())}>
            Refresh
          </button>
        }
      >
        <ErrorNotice error={error} />
        {todays.data && months.data ? (
          <div className="stats">
            <Stat
              label="Spend today"
              value={formatAmount(todays.data.totals.charge)}
              detail={`${formatCount(todays.data.totals.calls)} calls`}
              testId="spend-today"
            />
            <Stat
              label="Spend this month"
              value={formatAmount(months.data.totals.charge)}
              detail={`provider cost ${formatAmount(months.data.totals.provider_cost)} + markup ${formatAmount(months.data.totals.markup)}`}
              testId="spend-month"
            />
            <Stat label="Calls this month" value={formatCount(months.data.totals.calls)} testId="calls-month" />
            <Stat label="Tokens this month" value={formatCount(totalTokens(months.data.totals))} testId="tokens-month" />
            <Stat
              label="Error rate this month"
              value={formatShare(months.data.totals.errors, months.data.totals.calls)}
              detail={`${formatCount(months.data.totals.errors)} failed calls`}
              testId="error-rate"
            />
          </div>
        ) : (
          <Loading what="totals" />
        )}
        <p className="hint">Days and months in UTC; figures to {now.toISOString().slice(0, 19)} UTC.</p>
      </Section>
      <Section
        title="Spend over the last 30 days"
        id="spend-title"
        actions={
          <select
            value={stackBy}
            onChange={(event) => setStackBy(event.target.value as 'model' | 'provider')}
            aria-label="stack by"
          >
            <option value="model">by model</option>
            <option value="provider">by provider</option>
          </select>
        }
      >
        {stacked ? (
          <StackedSpendChart
            label={`spend per day by ${stackBy}`}
            buckets={stacked.buckets.map(formatDay)}
            series={stacked.series}
          />
        ) : (
          <Loading what="the chart" />
        )}
      </Section>
      <div className="columns three">
        <TopList title="Top accounts" dimension="account" from={month} to={now} />
        <TopList title="Top keys" dimension="key" from={month} to={now} />
        <TopList title="Top models" dimension="model" from={month} to={now} />
      </div>
    </>
  );
}

function TopList(props: { title: string; dimension: UsageDimension; from: Date; to: Date }) {
  const summary = useUsageSummary('admin', { groupBy: [props.dimension], from: props.from, to: props.to });
  const rows = summary.data ? topByCharge(summary.data.rows, 10) : [];
  return (
    <Section title={`${props.title} this month`} id={`top-${props.dimension}-title`}>
      <ErrorNotice error={summary.error} />
      <DataTable
        label={`top ${props.dimension}s`}
        rows={rows}
        rowKey={(row) => String(row[props.dimension] ?? '(none)')}
        empty="No calls this month."
        columns={[
          { header: props.dimension, cell: (row) => <DimensionLink dimension={props.dimension} row={row} /> },
          { header: 'Calls', numeric: true, cell: (row) => formatCount(row.calls) },
          { header: 'Spend', numeric: true, cell: (row) => formatAmount(row.charge) },
        ]}
      />
    </Section>
  );
}

function DimensionLink({ dimension, row }: { dimension: UsageDimension; row: UsageRow }) {
  const value = row[dimension];
  if (value === null || value === undefined) return <span className="hint">(none)</span>;
  const text = String(value);
  const name = (dimension === 'account' ? row.account_name : dimension === 'key' ? row.key_prefix : null) ?? text;
  if (dimension === 'account') return <Link href={`/accounts/${encodeURIComponent(text)}`}>{name}</Link>;
  if (dimension === 'model') return <Link href={modelHref(text)}>{name}</Link>;
  return <code>{dimension === 'key' ? `${name}…` : name}</code>;
}
