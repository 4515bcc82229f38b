import { useQuery } from '@tanstack/react-query';
import { api } from '../api/http.ts';
import type { AccountDetail, ApiKey } from '../api/types.ts';
import { AccountStatement } from '../components/account-statement.tsx';
import { AccountUsage } from '../components/account-usage.tsx';
import { DataTable } from '../components/data-table.tsx';
import { Badge, ErrorNotice, Loading, Section, Stat } from '../components/feedback.tsx';
import { LedgerEntries } from '../components/ledger-entries.tsx';
import { UsageRecords } from '../components/usage-records.tsx';
import { formatAmount } from '../format/amounts.ts';
import { formatTime } from '../format/time.ts';

/** What a customer signed in with its API key sees: its own account only (the /account routes). */
export function CustomerPage() {
  const detail = useQuery({ queryKey: ['customer', 'account'], queryFn: () => api<AccountDetail>('/account') });
  const keys = useQuery({ queryKey: ['customer', 'keys'], queryFn: () => api<{ data: ApiKey[] }>('/account/keys') });
  if (detail.isPending) return <Loading what="your account" />;
  if (detail.error) return <ErrorNotice error={detail.error} />;
  const { account, open_holds: holds } = detail.data;
  return (
    <>
      <Section title={account.name} id="customer-account-title">
        <div className="stats">
          <Stat label="Balance" value={formatAmount(account.balance, account.unit)} testId="account-balance" />
          <Stat
            label="Available"
            value={formatAmount(account.available, account.unit)}
            detail={`${holds.count} calls in flight`}
            testId="account-available"
          />
          <Stat label="Status" value={<Badge tone={account.status === 'active' ? 'good' : 'bad'}>{account.status}</Badge>} />
        </div>
      </Section>
      <AccountUsage scope={{ kind: 'customer' }} />
      <AccountStatement path="/account/statement" queryKey={['customer']} />
      <Section title="Calls" id="customer-calls-title">
        <UsageRecords scope="customer" filters={{}} />
      </Section>
      <Section title="API keys" id="customer-keys-title">
        <ErrorNotice error={keys.error} />
        <DataTable
          label="api keys"
          rows={keys.data?.data ?? []}
          rowKey={(key) => key.id}
          columns={[
            { header: 'Prefix', cell: (key) => <code>{key.prefix}…</code> },
            { header: 'Name', cell: (key) => key.name ?? '–' },
            { header: 'Created', cell: (key) => formatTime(key.created_at) },
            { header: 'Last used', cell: (key) => formatTime(key.last_used_at) },
            {
              header: 'State',
              cell: (key) => (key.revoked_at ? <Badge tone="bad">revoked</Badge> : <Badge tone="good">live</Badge>),
            },
          ]}
        />
        <p className="hint">To create or revoke a key, ask your operator.</p>
      </Section>
      <Section title="Ledger" id="customer-ledger-title">
        <LedgerEntries path="/account/entries" queryKey={['customer', 'entries']} unit={account.unit} />
      </Section>
    </>
  );
}
