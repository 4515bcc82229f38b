import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { api } from '../api/http.ts';
import type { SyncResult } from '../api/types.ts';
import { DataTable } from '../components/data-table.tsx';
import { Badge, ErrorNotice, Loading, Section } from '../components/feedback.tsx';
import { RateChanges } from '../components/rate-changes.tsx';
import { formatTime } from '../format/time.ts';
import { modelHref } from './catalog-page.tsx';
import { RunStatus } from './sync-page.tsx';

/** One run's diff: what it applied, what it held back (and what was decided), what is new or gone. */
export function SyncRunPage({ runId }: { runId: number }) {
  const run = useQuery({ queryKey: ['sync', 'run', runId], queryFn: () => api<SyncResult>(`/admin/pricing/sync/runs/${runId}`) });
  if (run.isPending) return <Loading what="the run" />;
  if (run.error) return <ErrorNotice error={run.error} />;
  const result = run.data;
  return (
    <>
      <p className="breadcrumb">
        <Link href="/sync">Sync and alerts</Link> / run #{result.runId}
      </p>
      <Section title={`Run #${result.runId}: ${result.source} (${result.mode})`} id="run-title">
        <p>
          <RunStatus status={result.status} error={result.error} /> · started {formatTime(result.startedAt)} · finished{' '}
          {formatTime(result.finishedAt)}
        </p>
        <p className="hint">{result.url}</p>
        {result.summary ? (
          <dl className="facts">
            {Object.entries(result.summary).map(([name, value]) => (
              <div key={name} className="fact">
                <dt>{name}</dt>
                <dd>{value}</dd>
              </div>
            ))}
          </dl>
        ) : null}
      </Section>
      <Section title={`Held back (${result.heldBack?.length ?? 0})`} id="run-held-back-title">
        <DataTable
          label="run held-back changes"
          rows={result.heldBack ?? []}
          rowKey={(change) => change.modelId}
          empty="Nothing held back."
          columns={[
            { header: 'Model', cell: (change) => <Link href={modelHref(change.modelId)}>{change.modelId}</Link> },
            { header: 'Change', cell: (change) => <RateChanges rates={change.rates} /> },
            { header: 'Why', cell: (change) => change.reasons.join('; ') },
            {
              header: 'Decision',
              cell: (change) =>
                change.decision ? (
                  <Badge tone={change.decision.action === 'approved' ? 'good' : 'plain'}>
                    {change.decision.action} {formatTime(change.decision.decidedAt)}
                    {change.decision.version ? ` → version ${change.decision.version}` : ''}
                  </Badge>
                ) : (
                  <Link href="/sync">undecided</Link>
                ),
            },
          ]}
        />
      </Section>
      <Section title={`Changes (${result.changes?.length ?? 0})`} id="run-changes-title">
        <DataTable
          label="run changes"
          rows={result.changes ?? []}
          rowKey={(change) => change.modelId}
          empty="No price changed."
          columns={[
            { header: 'Model', cell: (change) => <Link href={modelHref(change.modelId)}>{change.modelId}</Link> },
            { header: 'Change', cell: (change) => <RateChanges rates={change.rates} /> },
            {
              header: '',
              cell: (change) => (change.applied ? <Badge tone="good">applied</Badge> : <Badge tone="plain">dry run</Badge>),
            },
          ]}
        />
      </Section>
      {result.newModels && result.newModels.length > 0 ? (
        <Section title={`New models in the feed (${result.newModels.length})`} id="run-new-title">
          <ul className="model-list">
            {result.newModels.map((model) => (
              <li key={model.modelId}>
                {model.modelId} {model.registered ? <Badge tone="good">registered</Badge> : null}
              </li>
            ))}
          </ul>
        </Section>
      ) : null}
      {result.gone && result.gone.length > 0 ? (
        <Section title={`Gone from the feed (${result.gone.length})`} id="run-gone-title">
          <ul className="model-list">
            {result.gone.map((modelId) => (
              <li key={modelId}>{modelId}</li>
            ))}
          </ul>
        </Section>
      ) : null}
    </>
  );
}
