import { useState, type FormEvent } from 'react';
import { Section } from '../components/feedback.tsx';
import { UsageRecords, type RecordFilters } from '../components/usage-records.tsx';

const FIELDS: Array<[keyof RecordFilters, string]> = [
  ['account', 'account (id or name)'],
  ['key', 'key'],
  ['model', 'model'],
  ['provider', 'provider'],
];

/** Every call with its cost breakdown, filtered on the server. */
export function CallsPage() {
  const [draft, setDraft] = useState<RecordFilters>({});
  const [filters, setFilters] = useState<RecordFilters>({});
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const cleaned = Object.fromEntries(
      Object.entries(draft).filter(([, value]) => value !== undefined && value !== ''),
    ) as RecordFilters;
    if (cleaned.from) cleaned.from = new Date(cleaned.from).toISOString();
    if (cleaned.to) cleaned.to = new Date(cleaned.to).toISOString();
    setFilters(cleaned);
  };
  const set = (name: keyof RecordFilters, value: string) => setDraft((current) => ({ ...current, [name]: value }));
  return (
    <Section title="Calls" id="calls-title">
      <form className="filters" onSubmit={submit} aria-label="call filters">
        {FIELDS.map(([name, label]) => (
          <input
            key={name}
            placeholder={label}
            aria-label={label}
            value={draft[name] ?? ''}
            onChange={(event) => set(name, event.target.value.trim())}
          />
        ))}
        <select value={draft.status ?? ''} onChange={(event) => set('status', event.target.value)} aria-label="status">
          <option value="">any status</option>
          <option value="success">success</option>
          <option value="error">error</option>
          <option value="aborted">aborted</option>
        </select>
        <label>
          from <input type="datetime-local" value={draft.from ?? ''} onChange={(event) => set('from', event.target.value)} />
        </label>
        <label>
          to <input type="datetime-local" value={draft.to ?? ''} onChange={(event) => set('to', event.target.value)} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <UsageRecords scope="admin" filters={filters} showAccount />
    </Section>
  );
}
