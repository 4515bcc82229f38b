import { useState } from 'react';
import { api } from '../api/http.ts';
import type { LedgerEntry, Page } from '../api/types.ts';
import { formatAmount } from '../format/amounts.ts';
import { formatTime } from '../format/time.ts';
import { useCursorPages } from './cursor-pages.ts';
import { DataTable, Pager } from './data-table.tsx';
import { ErrorNotice } from './feedback.tsx';

const KIND_FILTERS: Array<[string, string]> = [
  ['', 'every kind'],
  ['grant,refund,adjust', 'grants, refunds, adjustments'],
  ['capture', 'charges (captures)'],
  ['hold,release', 'holds and releases'],
];

/** An account's ledger, newest first, a page at a time from the server (for an operator or the customer). */
export function LedgerEntries(props: { path: string; queryKey: readonly unknown[]; unit: 'usd' | 'tokens' }) {
  const [kind, setKind] = useState('');
  const pages = useCursorPages([...props.queryKey, kind], (cursor) =>
    api<Page<LedgerEntry>>(props.path, { query: { limit: 25, cursor, kind } }),
  );
  return (
    <>
      <div className="filters">
        <select value={kind} onChange={(event) => setKind(event.target.value)} aria-label="entry kinds">
          {KIND_FILTERS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <ErrorNotice error={pages.query.error} />
      <DataTable
        label="ledger entries"
        rows={pages.rows}
        rowKey={(entry) => entry.id}
        columns={[
          { header: 'Entry', numeric: true, cell: (entry) => entry.id },
          { header: 'Time', cell: (entry) => formatTime(entry.created_at) },
          { header: 'Kind', cell: (entry) => entry.kind },
          { header: 'Amount', numeric: true, cell: (entry) => formatAmount(entry.amount, entry.unit) },
          { header: 'Request', cell: (entry) => <code className="truncate">{entry.request_id}</code> },
          { header: 'Price version', numeric: true, cell: (entry) => entry.price_version ?? '–' },
          { header: 'Note', cell: (entry) => entry.note ?? '' },
        ]}
      />
      <Pager
        pageNumber={pages.pageNumber}
        hasPrevious={pages.hasPrevious}
        hasNext={pages.hasNext}
        onPrevious={pages.previous}
        onNext={pages.next}
        loading={pages.query.isFetching}
      />
    </>
  );
}
