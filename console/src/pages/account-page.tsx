import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { api, newIdempotencyKey } from '../api/http.ts';
import type { Account, AccountDetail, ApiKey, CreatedKey } from '../api/types.ts';
import { Badge, ErrorNotice, Loading, Section, Stat } from '../components/feedback.tsx';
import { LedgerEntries } from '../components/ledger-entries.tsx';
import { OneTimeKey } from '../components/one-time-key.tsx';
import { DataTable } from '../components/data-table.tsx';
import { amountProblem, formatAmount } from '../format/amounts.ts';
import { formatTime } from '../format/time.ts';
import { MODE_LABELS } from './accounts-page.tsx';
import { AccountStatement } from '../components/account-statement.tsx';
import { AccountUsage } from '../components/account-usage.tsx';
import { LimitsSection } from '../components/limits-section.tsx';

export function AccountPage({ account }: { account: string }) {
  const path = `/admin/accounts/${encodeURIComponent(account)}`;
  const detail = useQuery({ queryKey: ['accounts', account], queryFn: () => api<AccountDetail>(path, { query: { limit: 1 } }) });
  if (detail.isPending) return <Loading what="the account" />;
  if (detail.error) return <ErrorNotice error={detail.error} />;
  const { account: found, open_holds: holds } = detail.data;
  return (
    <>
      <p className="breadcrumb">
        <Link href="/accounts">Accounts</Link> / {found.name}
      </p>
      <Section title={found.name} id="account-title" actions={<StatusToggle account={found} path={path} />}>
        <div className="stats">
          <Stat label="Balance" value={formatAmount(found.balance, found.unit)} testId="account-balance" />
          <Stat
            label="Available"
            value={formatAmount(found.available, found.unit)}
            detail={`${holds.count} open holds: ${formatAmount(holds.total, found.unit)}`}
            testId="account-available"
          />
          <Stat label="Mode" value={MODE_LABELS[found.mode]} detail={found.mode} />
          <Stat
            label="Status"
            value={<Badge tone={found.status === 'active' ? 'good' : 'bad'}>{found.status}</Badge>}
            testId="account-status"
          />
        </div>
        <dl className="facts">
          <dt>Id</dt>
          <dd>
            <code>{found.id}</code>
          </dd>
          <dt>Created</dt>
          <dd>{formatTime(found.created_at)}</dd>
        </dl>
      </Section>
      <div className="columns">
        <CreditsForm account={found} path={path} />
        <TermsForm account={found} path={path} />
      </div>
      <AccountUsage scope={{ kind: 'admin', account: found }} />
      <AccountStatement path={`${path}/statement`} queryKey={['accounts', account]} />
      <KeysSection account={found} path={path} />
      <AccountLimits account={found} path={path} />
      <Section title="Ledger entries" id="entries-title">
        <LedgerEntries path={`${path}/entries`} queryKey={['accounts', account, 'entries']} unit={found.unit} />
      </Section>
    </>
  );
}

function StatusToggle({ account, path }: { account: Account; path: string }) {
  const client = useQueryClient();
  const next = account.status === 'active' ? 'suspended' : 'active';
  const change = useMutation({
    mutationFn: () => api<{ account: Account }>(path, { method: 'PATCH', body: { status: next } }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['accounts'] }),
  });
  return (
    <span className="actions">
      <button
        type="button"
        className={next === 'suspended' ? 'danger' : undefined}
        disabled={change.isPending}
        onClick={() => {
          if (next === 'active' || window.confirm(`Suspend ${account.name}? Its calls are refused until it is reactivated.`))
            change.mutate();
        }}
      >
        {next === 'suspended' ? 'Suspend' : 'Reactivate'}
      </button>
      <ErrorNotice error={change.error} />
    </span>
  );
}

const OPERATIONS = {
  credits: { label: 'Grant credits', signed: false },
  refunds: { label: 'Refund', signed: false },
  adjustments: { label: 'Adjust (signed)', signed: true },
} as const;

function CreditsForm({ account, path }: { account: Account; path: string }) {
  const client = useQueryClient();
  const [operation, setOperation] = useState<keyof typeof OPERATIONS>('credits');
  const [amount, setAmount] = useState('');
  const [note, setNote] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  // One key per intended operation: a double click or a retry replays it rather than granting twice.
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);
  const submit = useMutation({
    mutationFn: () =>
      api<{ account: Account; replayed: boolean }>(`${path}/${operation}`, {
        method: 'POST',
        body: { amount: amount.trim(), idempotency_key: idempotencyKey, ...(note.trim() ? { note: note.trim() } : {}) },
      }),
    onSuccess: () => {
      setAmount('');
      setNote('');
      setIdempotencyKey(newIdempotencyKey());
      void client.invalidateQueries({ queryKey: ['accounts'] });
    },
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const found = amountProblem(amount, { signed: OPERATIONS[operation].signed });
    setProblem(found);
    if (!found) submit.mutate();
  };
  return (
    <Section title="Credits" id="credits-title">
      <form className="stacked-form" onSubmit={onSubmit} aria-label="credits">
        <label>
          Operation
          <select value={operation} onChange={(event) => setOperation(event.target.value as keyof typeof OPERATIONS)}>
            {Object.entries(OPERATIONS).map(([value, { label }]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Amount ({account.unit === 'tokens' ? 'tokens' : 'USD'})
          <input name="amount" value={amount} onChange={(event) => setAmount(event.target.value)} inputMode="decimal" required />
        </label>
        <label>
          Note
          <input name="note" value={note} onChange={(event) => setNote(event.target.value)} />
        </label>
        <button type="submit" disabled={submit.isPending}>
          {OPERATIONS[operation].label}
        </button>
      </form>
      {problem ? <p className="notice error">{problem}</p> : null}
      <ErrorNotice error={submit.error} />
      {submit.data ? (
        <p className="notice good" role="status">
          Done: balance {formatAmount(submit.data.account.balance, submit.data.account.unit)}
          {submit.data.replayed ? ' (a replay of the same request: nothing was added twice)' : ''}.
        </p>
      ) : null}
    </Section>
  );
}

function TermsForm({ account, path }: { account: Account; path: string }) {
  const client = useQueryClient();
  const [markupPercent, setMarkupPercent] = useState(account.markup_percent ?? '');
  const [markupFee, setMarkupFee] = useState(account.markup_fixed_fee ?? '');
  const [overdraft, setOverdraft] = useState(account.overdraft_limit);
  const [jobPrice, setJobPrice] = useState(account.job_price ?? '');
  const [problem, setProblem] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: () =>
      api<{ account: Account }>(path, {
        method: 'PATCH',
        body: {
          markup_percent: markupPercent.trim() || null,
          markup_fixed_fee: markupFee.trim() || null,
          overdraft_limit: overdraft.trim(),
          ...(account.mode === 'job_based' ? { job_price: jobPrice.trim() } : {}),
        },
      }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['accounts'] }),
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const checks: Array<[string, string, boolean]> = [
      ['markup percent', markupPercent, true],
      ['markup fixed fee', markupFee, false],
      ['overdraft limit', overdraft, false],
    ];
    if (account.mode === 'job_based') checks.push(['job price', jobPrice, false]);
    const found = checks
      .filter(([name, value]) => value.trim() !== '' || name === 'overdraft limit' || name === 'job price')
      .map(([name, value, signed]) => {
        const issue = amountProblem(value, { signed });
        return issue ? `${name}: ${issue}` : null;
      })
      .find(Boolean);
    setProblem(found ?? null);
    if (!found) save.mutate();
  };
  return (
    <Section title="Terms" id="terms-title">
      <form className="stacked-form" onSubmit={onSubmit} aria-label="terms">
        <label>
          Markup percent (empty: the model's, provider's or global rule)
          <input value={markupPercent} onChange={(event) => setMarkupPercent(event.target.value)} inputMode="decimal" />
        </label>
        <label>
          Markup fixed fee per call (USD)
          <input value={markupFee} onChange={(event) => setMarkupFee(event.target.value)} inputMode="decimal" />
        </label>
        <label>
          Overdraft limit ({account.unit === 'tokens' ? 'tokens' : 'USD'}; 0 = never below zero)
          <input value={overdraft} onChange={(event) => setOverdraft(event.target.value)} inputMode="decimal" />
        </label>
        {account.mode === 'job_based' ? (
          <label>
            Job price (USD per successful call)
            <input value={jobPrice} onChange={(event) => setJobPrice(event.target.value)} inputMode="decimal" />
          </label>
        ) : null}
        <button type="submit" disabled={save.isPending}>
          Save terms
        </button>
      </form>
      {problem ? <p className="notice error">{problem}</p> : null}
      <ErrorNotice error={save.error} />
      {save.isSuccess ? <p className="notice good">Saved.</p> : null}
    </Section>
  );
}

/** The limits of the account, or of one of its keys or end users (the keys list is the same query as the keys section's). */
function AccountLimits({ account, path }: { account: Account; path: string }) {
  const keys = useQuery({ queryKey: ['accounts', account.id, 'keys'], queryFn: () => api<{ data: ApiKey[] }>(`${path}/keys`) });
  return <LimitsSection account={account} keys={keys.data?.data ?? []} />;
}

function KeysSection({ account, path }: { account: Account; path: string }) {
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ['accounts', account.id, 'keys'], queryFn: () => api<{ data: ApiKey[] }>(`${path}/keys`) });
  const [name, setName] = useState('');
  const create = useMutation({
    mutationFn: () => api<CreatedKey>(`${path}/keys`, { method: 'POST', body: name.trim() ? { name: name.trim() } : {} }),
    onSuccess: () => {
      setName('');
      void client.invalidateQueries({ queryKey: ['accounts', account.id, 'keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (prefix: string) => api<{ revoked: boolean }>(`/admin/keys/${encodeURIComponent(prefix)}`, { method: 'DELETE' }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['accounts', account.id, 'keys'] }),
  });
  return (
    <Section title="API keys" id="keys-title">
      <ErrorNotice error={keys.error ?? revoke.error} />
      <DataTable
        label="api keys"
        rows={keys.data?.data ?? []}
        rowKey={(key) => key.id}
        columns={[
          { header: 'Prefix', cell: (key) => <code>{key.prefix}…</code> },
          { header: 'Name', cell: (key) => key.name ?? '–' },
          { header: 'Scope', cell: (key) => key.scope },
          { header: 'Created', cell: (key) => formatTime(key.created_at) },
          { header: 'Last used', cell: (key) => formatTime(key.last_used_at) },
          {
            header: 'State',
            cell: (key) =>
              key.revoked_at ? (
                <Badge tone="bad">revoked {formatTime(key.revoked_at)}</Badge>
              ) : (
                <button
                  type="button"
                  className="danger small"
                  aria-label={`revoke ${key.prefix}`}
                  disabled={revoke.isPending}
                  onClick={() => {
                    if (window.confirm(`Revoke ${key.prefix}…? Calls with it are refused within seconds on every instance.`))
                      revoke.mutate(key.prefix);
                  }}
                >
                  Revoke
                </button>
              ),
          },
        ]}
      />
      <form className="inline-form" aria-label="new key" onSubmit={(event) => (event.preventDefault(), create.mutate())}>
        <label>
          Key name
          <input value={name} onChange={(event) => setName(event.target.value)} placeholder="optional" />
        </label>
        <button type="submit" disabled={create.isPending}>
          Create key
        </button>
      </form>
      <ErrorNotice error={create.error} />
      {create.data ? <OneTimeKey created={create.data} /> : null}
    </Section>
  );
}
