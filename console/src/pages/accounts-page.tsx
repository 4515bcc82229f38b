import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { api } from '../api/http.ts';
import type { Account, CreatedKey, Page } from '../api/types.ts';
import { useCursorPages } from '../components/cursor-pages.ts';
import { DataTable, Pager } from '../components/data-table.tsx';
import { Badge, ErrorNotice, Section } from '../components/feedback.tsx';
import { OneTimeKey } from '../components/one-time-key.tsx';
import { amountProblem, formatAmount } from '../format/amounts.ts';

export const MODE_LABELS: Record<Account['mode'], string> = {
  consumption_usd: 'USD',
  consumption_tokens: 'tokens',
  job_based: 'per job',
};

export function AccountsPage() {
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState('');
  const [, navigate] = useLocation();
  const pages = useCursorPages(['accounts', search, status], (cursor) =>
    api<Page<Account>>('/admin/accounts', { query: { limit: 25, cursor, search, status } }),
  );
  return (
    <>
      <Section title="Accounts" id="accounts-title">
        <div className="filters">
          <input
            type="search"
            placeholder="Search by name or id"
            value={search}
            onChange={(event) => setSearch(event.target.value)}
            aria-label="search accounts"
          />
          <select value={status} onChange={(event) => setStatus(event.target.value)} aria-label="status">
            <option value="">any status</option>
            <option value="active">active</option>
            <option value="suspended">suspended</option>
          </select>
        </div>
        <ErrorNotice error={pages.query.error} />
        <DataTable
          label="accounts"
          rows={pages.rows}
          rowKey={(account) => account.id}
          onRowClick={(account) => navigate(`/accounts/${encodeURIComponent(account.id)}`)}
          columns={[
            {
              header: 'Name',
              cell: (account) => <Link href={`/accounts/${encodeURIComponent(account.id)}`}>{account.name}</Link>,
            },
            { header: 'Mode', cell: (account) => MODE_LABELS[account.mode] },
            { header: 'Balance', numeric: true, cell: (account) => formatAmount(account.balance, account.unit) },
            { header: 'Available', numeric: true, cell: (account) => formatAmount(account.available, account.unit) },
            {
              header: 'Status',
              cell: (account) => <Badge tone={account.status === 'active' ? 'good' : 'bad'}>{account.status}</Badge>,
            },
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
      <CreateAccountForm />
    </>
  );
}

function CreateAccountForm() {
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [mode, setMode] = useState<Account['mode']>('consumption_usd');
  const [credits, setCredits] = useState('');
  const [jobPrice, setJobPrice] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () =>
      api<{ account: Account; api_key: CreatedKey }>('/admin/accounts', {
        method: 'POST',
        body: {
          name: name.trim(),
          mode,
          ...(credits.trim() ? { credits: credits.trim() } : {}),
          ...(mode === 'job_based' ? { job_price: jobPrice.trim() } : {}),
        },
      }),
    onSuccess: () => {
      setName('');
      setCredits('');
      setJobPrice('');
      void client.invalidateQueries({ queryKey: ['accounts'] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found =
      (credits.trim() ? amountProblem(credits) && `credits: ${amountProblem(credits)}` : null) ??
      (mode === 'job_based' ? amountProblem(jobPrice) && `job price: ${amountProblem(jobPrice)}` : null);
    setProblem(found || null);
    if (!found) create.mutate();
  };
  return (
    <Section title="New account" id="new-account-title">
      <form className="inline-form" onSubmit={submit} aria-label="new account">
        <label>
          Name
          <input value={name} onChange={(event) => setName(event.target.value)} required />
        </label>
        <label>
          Budget mode
          <select value={mode} onChange={(event) => setMode(event.target.value as Account['mode'])}>
            <option value="consumption_usd">consumption_usd (USD)</option>
            <option value="consumption_tokens">consumption_tokens (tokens)</option>
            <option value="job_based">job_based (a price per call)</option>
          </select>
        </label>
        <label>
          Initial credits {mode === 'consumption_tokens' ? '(tokens)' : '(USD)'}
          <input value={credits} onChange={(event) => setCredits(event.target.value)} inputMode="decimal" placeholder="0" />
        </label>
        {mode === 'job_based' ? (
          <label>
            Job price (USD)
            <input value={jobPrice} onChange={(event) => setJobPrice(event.target.value)} inputMode="decimal" required />
          </label>
        ) : null}
        <button type="submit" disabled={create.isPending}>
          Create account
        </button>
      </form>
      {problem ? <p className="notice error">{problem}</p> : null}
      <ErrorNotice error={create.error} />
      {create.data ? (
        <div className="notice good" role="status">
          Created <Link href={`/accounts/${encodeURIComponent(create.data.account.id)}`}>{create.data.account.name}</Link> with{' '}
          {formatAmount(create.data.account.balance, create.data.account.unit)}.
          <OneTimeKey created={create.data.api_key} />
        </div>
      ) : null}
    </Section>
  );
}
