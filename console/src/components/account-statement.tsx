import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api, withQuery } from '../api/http.ts';
import type { Statement } from '../api/types.ts';
import { formatAmount, formatCount, negate } from '../format/amounts.ts';
import { formatTime, monthOf } from '../format/time.ts';
import { ErrorNotice, Section } from './feedback.tsx';

/**
 * An account's month as its ledger has it: opening balance, each grant, refund and adjustment, charges by
 * model, closing balance (opening + movements − charges, to the last digit), with a CSV of the same lines.
 */
export function AccountStatement(props: { path: string; queryKey: readonly unknown[] }) {
  const [month, setMonth] = useState(() => monthOf(new Date()));
  const statement = useQuery({
    queryKey: [...props.queryKey, 'statement', month],
    queryFn: () => api<Statement>(props.path, { query: { month } }),
  });
  const data = statement.data;
  const unit = data?.unit ?? 'usd';
  return (
    <Section
      title="Statement"
      id="statement-title"
      actions={
        <span className="actions">
          <input
            type="month"
            value={month}
            onChange={(event) => event.target.value && setMonth(event.target.value)}
            aria-label="statement month"
          />
          <a href={withQuery(props.path, { month, format: 'csv' })} download>
            CSV
          </a>
        </span>
      }
    >
      <ErrorNotice error={statement.error} />
      {data ? (
        <table className="data-table compact" aria-label="statement">
          <tbody>
            <tr className="subtotal">
              <td>Opening balance, {formatTime(data.from)}</td>
              <td className="numeric" data-testid="statement-opening">
                {formatAmount(data.opening_balance, unit)}
              </td>
            </tr>
            {data.entries.map((entry) => (
              <tr key={entry.id}>
                <td>
                  {entry.kind} #{entry.id}, {formatTime(entry.created_at)}
                  {entry.note ? ` · ${entry.note}` : ''}
                </td>
                <td className="numeric">{formatAmount(entry.amount, unit)}</td>
              </tr>
            ))}
            {data.charges.by_model.map((row) => (
              <tr key={row.model}>
                <td>
                  Charges: {row.model} ({formatCount(row.calls)} calls)
                </td>
                <td className="numeric">{formatAmount(negate(row.amount), unit)}</td>
              </tr>
            ))}
            <tr className="subtotal">
              <td>
                Grants {formatAmount(data.grants, unit)} · refunds {formatAmount(data.refunds, unit)} · adjustments{' '}
                {formatAmount(data.adjustments, unit)} · charges {formatAmount(data.charges.total, unit)} (
                {formatCount(data.charges.calls)} calls)
              </td>
              <td />
            </tr>
            <tr className="total">
              <td>Closing balance, {formatTime(data.to)}</td>
              <td className="numeric" data-testid="statement-closing">
                {formatAmount(data.closing_balance, unit)}
              </td>
            </tr>
          </tbody>
        </table>
      ) : null}
    </Section>
  );
}
