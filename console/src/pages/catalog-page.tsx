import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useLocation } from 'wouter';
import { api } from '../api/http.ts';
import type { Coverage, ListedModel, Page } from '../api/types.ts';
import { useCursorPages } from '../components/cursor-pages.ts';
import { DataTable, Pager } from '../components/data-table.tsx';
import { Badge, ErrorNotice, Section, Stat } from '../components/feedback.tsx';
import { formatCount, formatPerMillion } from '../format/amounts.ts';

export const modelHref = (modelId: string) => `/catalog/models/${modelId.split('/').map(encodeURIComponent).join('/')}`;

export function CatalogPage() {
  const [search, setSearch] = useState('');
  const [provider, setProvider] = useState('');
  const [priced, setPriced] = useState('');
  const [, navigate] = useLocation();
  const coverage = useQuery({ queryKey: ['catalog', 'coverage'], queryFn: () => api<Coverage>('/admin/pricing/coverage') });
  const pages = useCursorPages(['catalog', 'models', search, provider, priced], (cursor) =>
    api<Page<ListedModel>>('/admin/pricing/models', { query: { limit: 50, cursor, search, provider, priced } }),
  );
  return (
    <>
      <Section title="Coverage" id="coverage-title">
        <ErrorNotice error={coverage.error} />
        {coverage.data ? (
          <>
            <div className="stats">
              <Stat label="Active models" value={formatCount(coverage.data.active)} />
              <Stat label="Priced" value={formatCount(coverage.data.priced)} />
              <Stat label="Coverage" value={`${coverage.data.percent}%`} testId="coverage-percent" />
              <Stat label="Unpriced" value={formatCount(coverage.data.unpriced.length)} />
            </div>
            {coverage.data.unpriced.length > 0 ? (
              <details>
                <summary>
                  Active models without a price ({coverage.data.unpriced.length}): calls to them use the default price or are
                  refused
                </summary>
                <ul className="model-list">
                  {coverage.data.unpriced.map((id) => (
                    <li key={id}>
                      <Link href={modelHref(id)}>{id}</Link>
                    </li>
                  ))}
                </ul>
              </details>
            ) : null}
          </>
        ) : null}
      </Section>
      <Section title="Models" id="models-title">
        <div className="filters">
          <input
            type="search"
            placeholder="Search model ids"
            value={search}
            onChange={(event) => setSearch(event.target.value)}
            aria-label="search models"
          />
          <input
            placeholder="provider"
            value={provider}
            onChange={(event) => setProvider(event.target.value.trim())}
            aria-label="provider"
          />
          <select value={priced} onChange={(event) => setPriced(event.target.value)} aria-label="priced">
            <option value="">priced or not</option>
            <option value="true">priced</option>
            <option value="false">unpriced</option>
          </select>
        </div>
        <ErrorNotice error={pages.query.error} />
        <DataTable
          label="models"
          rows={pages.rows}
          rowKey={(model) => model.id}
          onRowClick={(model) => navigate(modelHref(model.id))}
          columns={[
            { header: 'Model', cell: (model) => <Link href={modelHref(model.id)}>{model.id}</Link> },
            { header: 'Provider', cell: (model) => model.provider },
            { header: 'Input / 1M', numeric: true, cell: (model) => rate(model, 'input') },
            { header: 'Output / 1M', numeric: true, cell: (model) => rate(model, 'output') },
            { header: 'Cache read / 1M', numeric: true, cell: (model) => rate(model, 'cache_read') },
            { header: 'Version', numeric: true, cell: (model) => model.price?.version ?? '–' },
            { header: 'Source', cell: (model) => model.price?.source ?? <Badge tone="warn">unpriced</Badge> },
            { header: '', cell: (model) => (model.active ? null : <Badge tone="plain">inactive</Badge>) },
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
    </>
  );
}

function rate(model: ListedModel, name: 'input' | 'output' | 'cache_read'): string {
  const value = model.price?.rates[name];
  return value === undefined ? '–' : formatPerMillion(value) + (model.price?.tiered ? ' *' : '');
}
