import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { api } from '../api/http.ts';
import type { Alert, HeldBackDecision, Page, PendingHeldBack, SyncResult, SyncRunListing, SyncStatus } from '../api/types.ts';
import { useCursorPages } from '../components/cursor-pages.ts';
import { DataTable, Pager } from '../components/data-table.tsx';
import { Badge, ErrorNotice, Section } from '../components/feedback.tsx';
import { RateChanges } from '../components/rate-changes.tsx';
import { formatTime } from '../format/time.ts';
import { modelHref } from './catalog-page.tsx';

export function SyncPage() {
  return (
    <>
      <HeldBackSection />
      <StatusSection />
      <RunsSection />
      <AlertsSection />
    </>
  );
}

function HeldBackSection() {
  const client = useQueryClient();
  const pending = useQuery({
    queryKey: ['sync', 'held-back'],
    queryFn: () => api<{ data: PendingHeldBack[] }>('/admin/pricing/sync/held-back'),
  });
  const decide = useMutation({
    mutationFn: (input: { item: PendingHeldBack; action: 'approve' | 'reject' }) =>
      api<{ decision: HeldBackDecision }>(
        `/admin/pricing/sync/runs/${input.item.runId}/held-back/${input.item.index}/${input.action}`,
        {
          method: 'POST',
          body: {},
        },
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['sync'] });
      void client.invalidateQueries({ queryKey: ['catalog'] });
    },
  });
  const rows = pending.data?.data ?? [];
  return (
    <Section title={`Held-back changes${rows.length ? ` (${rows.length})` : ''}`} id="held-back-title">
      <p className="hint">
        Price changes a sync would not apply by itself (a jump beyond the allowed ratio, a rate to or from zero, a per-token rate
        too large to be one). Approving writes the feed's price as a new version now; rejecting keeps the current price.
      </p>
      <ErrorNotice error={pending.error ?? decide.error} />
      <DataTable
        label="held-back changes"
        rows={rows}
        rowKey={(item) => `${item.runId}:${item.index}`}
        empty="No change is waiting for a decision."
        columns={[
          { header: 'Model', cell: (item) => <Link href={modelHref(item.change.modelId)}>{item.change.modelId}</Link> },
          { header: 'Change', cell: (item) => <RateChanges rates={item.change.rates} /> },
          { header: 'Why held back', cell: (item) => item.change.reasons.join('; ') },
          {
            header: 'Run',
            cell: (item) => (
              <Link href={`/sync/runs/${item.runId}`}>
                #{item.runId} {item.source}, {formatTime(item.runStartedAt)}
              </Link>
            ),
          },
          {
            header: 'Decision',
            cell: (item) => (
              <span className="actions">
                <button
                  type="button"
                  className="small"
                  disabled={!item.approvable || decide.isPending}
                  title={item.approvable ? undefined : 'the feed entry is invalid: nothing to apply'}
                  aria-label={`approve ${item.change.modelId}`}
                  onClick={() => {
                    if (window.confirm(`Apply the feed's price to ${item.change.modelId} now?`))
                      decide.mutate({ item, action: 'approve' });
                  }}
                >
                  Approve
                </button>
                <button
                  type="button"
                  className="small danger"
                  disabled={decide.isPending}
                  aria-label={`reject ${item.change.modelId}`}
                  onClick={() => decide.mutate({ item, action: 'reject' })}
                >
                  Reject
                </button>
              </span>
            ),
          },
        ]}
      />
      {decide.data ? (
        <p className="notice good" role="status">
          {decide.data.decision.action === 'approved'
            ? `Approved: price version ${decide.data.decision.version} is in force.`
            : 'Rejected: the price is unchanged.'}
        </p>
      ) : null}
    </Section>
  );
}

function StatusSection() {
  const client = useQueryClient();
  const status = useQuery({ queryKey: ['sync', 'status'], queryFn: () => api<SyncStatus>('/admin/pricing/sync') });
  const [source, setSource] = useState('');
  const [execute, setExecute] = useState(false);
  const [, navigate] = useLocation();
  const run = useMutation({
    mutationFn: () =>
      api<SyncResult>('/admin/pricing/sync', { method: 'POST', body: { ...(source ? { source } : {}), execute } }),
    onSuccess: (result) => {
      void client.invalidateQueries({ queryKey: ['sync'] });
      navigate(`/sync/runs/${result.runId}`);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    run.mutate();
  };
  return (
    <Section title="Price sync" id="sync-title">
      <ErrorNotice error={status.error} />
      {status.data ? (
        <>
          <p>
            Schedule: {status.data.cron ? <code>{status.data.cron}</code> : 'off'}
            {status.data.nextRun ? `, next run ${formatTime(status.data.nextRun)}` : ''}
            {status.data.running ? ' · a run is under way' : ''}
          </p>
          <DataTable
            label="sync sources"
            rows={status.data.sources}
            rowKey={(entry) => entry.source}
            columns={[
              { header: 'Source', cell: (entry) => entry.source },
              { header: 'Scheduled', cell: (entry) => (entry.scheduled ? 'yes' : 'no') },
              {
                header: 'Last run',
                cell: (entry) =>
                  entry.lastResult ? (
                    <Link href={`/sync/runs/${entry.lastResult.runId}`}>{formatTime(entry.lastResult.startedAt)}</Link>
                  ) : (
                    'never'
                  ),
              },
              {
                header: 'Result',
                cell: (entry) =>
                  entry.lastResult ? <RunStatus status={entry.lastResult.status} error={entry.lastResult.error} /> : '–',
              },
            ]}
          />
          <form className="inline-form" onSubmit={submit} aria-label="run sync">
            <label>
              Source
              <select value={source} onChange={(event) => setSource(event.target.value)}>
                <option value="">the first scheduled</option>
                {status.data.sources.map((entry) => (
                  <option key={entry.source} value={entry.source} disabled={!entry.url}>
                    {entry.source}
                  </option>
                ))}
              </select>
            </label>
            <label className="checkbox">
              <input type="checkbox" checked={execute} onChange={(event) => setExecute(event.target.checked)} />
              apply the changes (otherwise a dry run)
            </label>
            <button type="submit" disabled={run.isPending}>
              {run.isPending ? 'Running…' : 'Run now'}
            </button>
          </form>
          <ErrorNotice error={run.error} />
        </>
      ) : null}
    </Section>
  );
}

export function RunStatus({ status, error }: { status: string; error: string | null }) {
  const tone = status === 'succeeded' ? 'good' : status === 'failed' ? 'bad' : 'warn';
  return (
    <span title={error ?? undefined}>
      <Badge tone={tone}>{status}</Badge>
      {error ? <span className="hint"> {error}</span> : null}
    </span>
  );
}

function RunsSection() {
  const [, navigate] = useLocation();
  const pages = useCursorPages(['sync', 'runs'], (cursor) =>
    api<Page<SyncRunListing>>('/admin/pricing/sync/runs', { query: { limit: 20, cursor } }),
  );
  return (
    <Section title="Runs" id="runs-title">
      <ErrorNotice error={pages.query.error} />
      <DataTable
        label="sync runs"
        rows={pages.rows}
        rowKey={(run) => run.runId}
        onRowClick={(run) => navigate(`/sync/runs/${run.runId}`)}
        columns={[
          { header: 'Run', numeric: true, cell: (run) => <Link href={`/sync/runs/${run.runId}`}>#{run.runId}</Link> },
          { header: 'Started', cell: (run) => formatTime(run.startedAt) },
          { header: 'Source', cell: (run) => run.source },
          { header: 'Mode', cell: (run) => run.mode },
          { header: 'Status', cell: (run) => <RunStatus status={run.status} error={run.error} /> },
          { header: 'Changed', numeric: true, cell: (run) => run.summary?.changed ?? '–' },
          { header: 'Applied', numeric: true, cell: (run) => run.summary?.applied ?? '–' },
          {
            header: 'Held back',
            numeric: true,
            cell: (run) => (run.summary ? `${run.summary.heldBack}${run.undecided ? ` (${run.undecided} undecided)` : ''}` : '–'),
          },
          { header: 'New models', numeric: true, cell: (run) => run.summary?.newModels ?? '–' },
          { header: 'Gone', numeric: true, cell: (run) => run.summary?.gone ?? '–' },
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
    </Section>
  );
}

function AlertsSection() {
  const [kind, setKind] = useState('');
  const alerts = useQuery({
    queryKey: ['sync', 'alerts', kind],
    queryFn: () => api<{ data: Alert[] }>('/admin/alerts', { query: { limit: 50, kind } }),
  });
  return (
    <Section
      title="Alerts"
      id="alerts-title"
      actions={
        <select value={kind} onChange={(event) => setKind(event.target.value)} aria-label="alert kind">
          <option value="">every kind</option>
          <option value="held_back_change">held-back changes</option>
          <option value="missing_price">missing prices</option>
          <option value="sync_failed">failed syncs</option>
        </select>
      }
    >
      <ErrorNotice error={alerts.error} />
      <DataTable
        label="alerts"
        rows={alerts.data?.data ?? []}
        rowKey={(alert) => alert.id}
        empty="No alerts."
        columns={[
          { header: 'Time', cell: (alert) => formatTime(alert.createdAt) },
          { header: 'Kind', cell: (alert) => <Badge tone={alert.kind === 'sync_failed' ? 'bad' : 'warn'}>{alert.kind}</Badge> },
          { header: 'Message', cell: (alert) => alert.message },
          {
            header: 'Webhook',
            cell: (alert) => (alert.deliveredAt ? `delivered ${formatTime(alert.deliveredAt)}` : 'not delivered'),
          },
        ]}
      />
      <p className="hint">The newest 50.</p>
    </Section>
  );
}
