import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { api } from '../api/http.ts';
import type { ModelDetail, PriceVersion } from '../api/types.ts';
import { PriceHistoryChart } from '../components/charts.tsx';
import { DataTable } from '../components/data-table.tsx';
import { Badge, ErrorNotice, Loading, Section } from '../components/feedback.tsx';
import { amountProblem, formatAmount, formatPerMillion } from '../format/amounts.ts';
import { formatTime } from '../format/time.ts';
import { Decimal } from '../../../src/money/decimal.ts';

const RATE_LABELS: Array<[keyof PriceVersion['rates'], string, boolean]> = [
  ['input', 'Input', true],
  ['output', 'Output', true],
  ['cacheRead', 'Cache read', true],
  ['cacheWrite', 'Cache write', true],
  ['cacheWrite1h', 'Cache write (1 h)', true],
  ['reasoning', 'Reasoning', true],
  ['inputAudio', 'Audio in', true],
  ['outputAudio', 'Audio out', true],
  ['perRequest', 'Per request', false],
  ['perImage', 'Per image', false],
];

export function ModelPage({ modelId }: { modelId: string }) {
  const path = `/admin/pricing/models/${modelId}`;
  const detail = useQuery({ queryKey: ['catalog', 'model', modelId], queryFn: () => api<ModelDetail>(path) });
  const [now] = useState(() => new Date().toISOString());
  if (detail.isPending) return <Loading what="the model" />;
  if (detail.error) return <ErrorNotice error={detail.error} />;
  const { model, aliases, current, history } = detail.data;
  return (
    <>
      <p className="breadcrumb">
        <Link href="/catalog">Catalog</Link> / {model.id}
      </p>
      <Section title={model.id} id="model-title">
        <dl className="facts">
          <dt>Provider</dt>
          <dd>{model.provider_id}</dd>
          <dt>Upstream name</dt>
          <dd>
            <code>{model.upstream_model}</code>
          </dd>
          <dt>State</dt>
          <dd>{model.active ? <Badge tone="good">active</Badge> : <Badge tone="plain">inactive</Badge>}</dd>
          <dt>Aliases</dt>
          <dd>{aliases.length ? aliases.join(', ') : '–'}</dd>
          <dt>Context window</dt>
          <dd>{model.context_window ?? '–'}</dd>
        </dl>
        {current ? (
          <table className="data-table compact" aria-label="current price">
            <thead>
              <tr>
                <th>Component</th>
                <th className="numeric">Price</th>
                <th className="numeric">Per unit (exact)</th>
              </tr>
            </thead>
            <tbody>
              {RATE_LABELS.filter(([key]) => current.rates[key] !== undefined).map(([key, label, perToken]) => (
                <tr key={key}>
                  <td>{label}</td>
                  <td className="numeric">
                    {perToken ? `${formatPerMillion(current.rates[key]!)} / 1M` : formatAmount(current.rates[key]!)}
                  </td>
                  <td className="numeric">
                    <code>{current.rates[key]}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="notice warn">No current price: calls to this model use the default price or are refused.</p>
        )}
        {current && current.tiers.length > 0 ? (
          <p className="hint">
            Context tiers: {current.tiers.map((tier) => `above ${tier.aboveInputTokens} prompt tokens`).join('; ')} (each its own
            rates).
          </p>
        ) : null}
      </Section>
      <Section title="Price history" id="history-title">
        {history.length > 0 ? (
          <PriceHistoryChart
            now={now}
            points={history.map((version) => ({ from: version.effectiveFrom, version: version.version, rates: version.rates }))}
          />
        ) : (
          <p className="hint">Never priced.</p>
        )}
        <DataTable
          label="price versions"
          rows={[...history].reverse()}
          rowKey={(version) => version.version}
          columns={[
            { header: 'Version', numeric: true, cell: (version) => version.version },
            { header: 'From', cell: (version) => formatTime(version.effectiveFrom) },
            {
              header: 'Until',
              cell: (version) =>
                version.effectiveUntil ? formatTime(version.effectiveUntil) : <Badge tone="good">current</Badge>,
            },
            {
              header: 'Input / 1M',
              numeric: true,
              cell: (version) => (version.rates.input ? formatPerMillion(version.rates.input) : '–'),
            },
            {
              header: 'Output / 1M',
              numeric: true,
              cell: (version) => (version.rates.output ? formatPerMillion(version.rates.output) : '–'),
            },
            { header: 'Source', cell: (version) => version.source },
          ]}
        />
      </Section>
      <SetPriceForm modelId={model.id} current={current} />
    </>
  );
}

const COLUMNS: Record<keyof PriceVersion['rates'], string> = {
  input: 'input',
  output: 'output',
  cacheRead: 'cache_read',
  cacheWrite: 'cache_write',
  cacheWrite1h: 'cache_write_1h',
  reasoning: 'reasoning',
  inputAudio: 'input_audio',
  outputAudio: 'output_audio',
  perRequest: 'per_request',
  perImage: 'per_image',
};

/** USD per 1M tokens as typed → USD per token, exactly. */
function perToken(perMillion: string): string {
  return Decimal.parse(perMillion.trim()).shift(-6).toString();
}

function SetPriceForm({ modelId, current }: { modelId: string; current: PriceVersion | null }) {
  const client = useQueryClient();
  const perMillion = (rate: string | undefined) => (rate ? Decimal.parse(rate).shift(6).toString() : '');
  const [input, setInput] = useState(perMillion(current?.rates.input));
  const [output, setOutput] = useState(perMillion(current?.rates.output));
  const [cacheRead, setCacheRead] = useState(perMillion(current?.rates.cacheRead));
  const [problem, setProblem] = useState<string | null>(null);
  const save = useMutation({
    // A PUT replaces the whole price: the rates and tiers this form does not show are sent as they are now,
    // per token and exact, so saving the input price never drops the cache-write or reasoning rate.
    mutationFn: () => {
      const body: Record<string, unknown> = { unit: 'token' };
      for (const [key, column] of Object.entries(COLUMNS)) {
        const value = current?.rates[key as keyof PriceVersion['rates']];
        if (value !== undefined) body[column] = value;
      }
      body.input = perToken(input);
      body.output = perToken(output);
      if (cacheRead.trim()) body.cache_read = perToken(cacheRead);
      else delete body.cache_read;
      if (current && current.tiers.length > 0) {
        body.tiers = current.tiers.map((tier) => {
          const rates: Record<string, unknown> = { above_input_tokens: tier.aboveInputTokens };
          for (const [key, value] of Object.entries(tier.rates)) rates[COLUMNS[key as keyof typeof COLUMNS] ?? key] = value;
          return rates;
        });
      }
      return api(`/admin/pricing/models/${modelId}/price`, { method: 'PUT', body });
    },
    onSuccess: () => void client.invalidateQueries({ queryKey: ['catalog'] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = [['input', input], ['output', output], ...(cacheRead.trim() ? [['cache read', cacheRead]] : [])]
      .map(([name, value]) => (amountProblem(value!) ? `${name}: ${amountProblem(value!)}` : null))
      .find(Boolean);
    setProblem(found ?? null);
    if (!found) save.mutate();
  };
  return (
    <Section title="Set a new price" id="set-price-title">
      <p className="hint">
        Writes a new version effective now (USD per 1M tokens) and closes the current one; charges already made keep the version
        they used.
      </p>
      <form className="inline-form" onSubmit={submit} aria-label="set price">
        <label>
          Input / 1M
          <input name="input" value={input} onChange={(event) => setInput(event.target.value)} inputMode="decimal" required />
        </label>
        <label>
          Output / 1M
          <input name="output" value={output} onChange={(event) => setOutput(event.target.value)} inputMode="decimal" required />
        </label>
        <label>
          Cache read / 1M
          <input name="cache_read" value={cacheRead} onChange={(event) => setCacheRead(event.target.value)} inputMode="decimal" />
        </label>
        <button type="submit" disabled={save.isPending}>
          Save price
        </button>
      </form>
      {problem ? <p className="notice error">{problem}</p> : null}
      <ErrorNotice error={save.error} />
      {save.isSuccess ? <p className="notice good">A new price version is in force.</p> : null}
    </Section>
  );
}
