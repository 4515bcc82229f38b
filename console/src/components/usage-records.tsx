import { useState } from 'react';
import { api } from '../api/http.ts';
import { inputTokens, outputTokens } from '../api/reports.ts';
import type { Page, UsageRecord } from '../api/types.ts';
import { formatAmount, formatCount } from '../format/amounts.ts';
import { formatTime } from '../format/time.ts';
import { CallDetail } from './call-detail.tsx';
import { useCursorPages } from './cursor-pages.ts';
import { DataTable, Pager } from './data-table.tsx';
import { Badge, ErrorNotice } from './feedback.tsx';

export interface RecordFilters {
  account?: string;
  key?: string;
  model?: string;
  provider?: string;
  status?: string;
  from?: string;
  to?: string;
}

const TAIL_INTERVAL_MS = 2_000;

/**
 * The request log, newest first, a page at a time from the server; a row opens the call's breakdown. With
 * live tail on, the first page is asked for again every two seconds, so new calls appear at the top.
 */
export function UsageRecords(props: { scope: 'admin' | 'customer'; filters: RecordFilters; showAccount?: boolean }) {
  const [tail, setTail] = useState(false);
  const [selected, setSelected] = useState<UsageRecord | null>(null);
  const path = props.scope === 'admin' ? '/admin/usage/records' : '/account/usage/records';
  const pages = useCursorPages(
    ['usage', props.scope, 'records', props.filters],
    (cursor) => api<Page<UsageRecord>>(path, { query: { limit: 50, cursor, ...props.filters } }),
    { refetchInterval: tail ? TAIL_INTERVAL_MS : false },
  );
  const tailing = tail && pages.pageNumber === 1;
  return (
    <>
      <div className="filters">
        <label className="checkbox">
          <input
            type="checkbox"
            checked={tail}
            onChange={(event) => {
              setTail(event.target.checked);
              if (event.target.checked) pages.first();
            }}
          />
          live tail {tailing ? <Badge tone="good">following</Badge> : null}
        </label>
      </div>
      <ErrorNotice error={pages.query.error} />
      <div className="master-detail">
        <DataTable
          label="calls"
          rows={pages.rows}
          rowKey={(record) => record.request_id}
          selected={selected?.request_id}
          onRowClick={(record) => setSelected(record)}
          empty="No calls match."
          columns={[
            { header: 'Time', nowrap: true, cell: (record) => formatTime(record.created_at) },
            ...(props.showAccount ? [{ header: 'Account', cell: (record: UsageRecord) => record.account_name }] : []),
            { header: 'Key', nowrap: true, cell: (record) => (record.key_prefix ? <code>{record.key_prefix}…</code> : '–') },
            { header: 'Model', cell: (record) => record.model ?? record.requested_model },
            { header: 'Tokens in', numeric: true, cell: (record) => formatCount(inputTokens(record)) },
            { header: 'Tokens out', numeric: true, cell: (record) => formatCount(outputTokens(record)) },
            { header: 'Charge', numeric: true, cell: (record) => formatAmount(record.charge) },
            {
              header: 'Status',
              cell: (record) => <Badge tone={record.status === 'success' ? 'good' : 'bad'}>{record.status}</Badge>,
            },
          ]}
        />
        {selected ? (
          <aside className="panel detail">
            <header className="panel-header">
              <h2>Call</h2>
              <button type="button" className="quiet" onClick={() => setSelected(null)} aria-label="close call">
                ×
              </button>
            </header>
            <CallDetail record={selected} />
          </aside>
        ) : null}
      </div>
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
