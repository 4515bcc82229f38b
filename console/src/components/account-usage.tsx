import { useState } from 'react';
import { totalTokens, topByCharge, useUsageSummary } from '../api/reports.ts';
import type { Account } from '../api/types.ts';
import { formatAmount, formatCount, formatShare } from '../format/amounts.ts';
import { startOfMonth } from '../format/time.ts';
import { DataTable } from './data-table.tsx';
import { ErrorNotice, Section, Stat } from './feedback.tsx';

/** One account's usage this month by model, for its operator page or its own customer page. */
export function AccountUsage(props: { scope: { kind: 'admin'; account: Account } | { kind: 'customer' } }) {
  const [now] = useState(() => new Date());
  const from = startOfMonth(now);
  const summary = useUsageSummary(props.scope.kind, {
    groupBy: ['model'],
    from,
    to: now,
    ...(props.scope.kind === 'admin' ? { account: props.scope.account.id } : {}),
  });
  const totals = summary.data?.totals;
  return (
    <Section title="Usage this month" id="account-usage-title">
      <ErrorNotice error={summary.error} />
      {totals ? (
        <div className="stats">
          <Stat label="Spend" value={formatAmount(totals.charge)} testId="usage-spend" />
          <Stat label="Calls" value={formatCount(totals.calls)} testId="usage-calls" />
          <Stat label="Tokens" value={formatCount(totalTokens(totals))} />
          <Stat label="Errors" value={formatShare(totals.errors, totals.calls)} detail={`${formatCount(totals.errors)} failed`} />
        </div>
      ) : null}
      <DataTable
        label="usage by model"
        rows={summary.data ? topByCharge(summary.data.rows, summary.data.rows.length) : []}
        rowKey={(row) => String(row.model ?? '(none)')}
        empty="No calls this month."
        columns={[
          { header: 'Model', cell: (row) => String(row.model ?? '(none)') },
          { header: 'Calls', numeric: true, cell: (row) => formatCount(row.calls) },
          { header: 'Tokens', numeric: true, cell: (row) => formatCount(totalTokens(row)) },
          { header: 'Provider cost', numeric: true, cell: (row) => formatAmount(row.provider_cost) },
          { header: 'Markup', numeric: true, cell: (row) => formatAmount(row.markup) },
          { header: 'Charge', numeric: true, cell: (row) => formatAmount(row.charge) },
        ]}
      />
    </Section>
  );
}
