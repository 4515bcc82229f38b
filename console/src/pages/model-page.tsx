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

/**
 * The largest believable rate per token, $1,000 per 1M (MAX_BELIEVABLE_TOKEN_RATE in src/money/units.ts): the
 * server refuses a per-token rate above it unless the body says `confirm_unusual_rate: true`.
 */
const MAX_TOKEN_RATE = Decimal.parse('0.001');
const PER_TOKEN_COLUMNS = new Set([
  'input',
  'output',
  'cache_read',
  'cache_write',
  'cache_write_1h',
  'reasoning',
  'input_audio',
  'output_audio',
]);

/** The per-token rates of a PUT body (and its tiers) above MAX_TOKEN_RATE, as "input $1500 per 1M". */
function unusualRates(body: Record<string, unknown>): string[] {
  const found: string[] = [];
  const check = (rates: Record<string, unknown>, prefix: string) => {
    for (const [column, value] of Object.entries(rates)) {
      if (!PER_TOKEN_COLUMNS.has(column) || typeof value !== 'string') continue;
      const rate = Decimal.parse(value);
      if (rate.gt(MAX_TOKEN_RATE)) found.push(`${prefix}${column.replace(/_/g, ' ')} $${rate.shift(6).toString()} per 1M`);
    }
  };
  check(body, '');
  for (const tier of (body.tiers as Array<Record<string, unknown>> | undefined) ?? [])
    check(tier, `above ${String(tier.above_input_tokens)} tokens: `);
  return found;
}

function SetPriceForm({ modelId, current }: { modelId: string; current: PriceVersion | null }) {
  const client = useQueryClient();
  const perMillion = (rate: string | undefined) => (rate ? Decimal.parse(rate).shift(6).toString() : '');
  const [input, setInput] = useState(perMillion(current?.rates.input));
  const [output, setOutput] = useState(perMillion(current?.rates.output));
  const [cacheRead, setCacheRead] = useState(perMillion(current?.rates.cacheRead));
  const [confirmUnusual, setConfirmUnusual] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  // A PUT replaces the whole price: the rates and tiers this form does not show are sent as they are now,
  // per token and exact, so saving the input price never drops the cache-write or reasoning rate.
  const priceBody = (): Record<string, unknown> => {
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
    return body;
  };
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) => api(`/admin/pricing/models/${modelId}/price`, { method: 'PUT', body }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['catalog'] }),
  });
  const typed = [['input', input], ['output', output], ...(cacheRead.trim() ? [['cache read', cacheRead]] : [])];
  const typedProblem = typed
    .map(([name, value]) => (amountProblem(value!) ? `${name}: ${amountProblem(value!)}` : null))
    .find(Boolean);
  // Checked as the figures are typed, so the confirmation appears before the server would refuse them.
  const unusual = typedProblem ? [] : unusualRates(priceBody());
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (typedProblem) return setProblem(typedProblem);
    if (unusual.length > 0 && !confirmUnusual)
      return setProblem(
        `${unusual.join(', ')}: above $1000 per 1M tokens. Check the figures (USD per 1M tokens), or confirm that they are right.`,
      );
    setProblem(null);
    save.mutate({ ...priceBody(), ...(unusual.length > 0 ? { confirm_unusual_rate: true } : {}) });
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
        {unusual.length > 0 ? (
          <label className="checkbox">
            <input
              type="checkbox"
              name="confirm_unusual_rate"
              checked={confirmUnusual}
              onChange={(event) => setConfirmUnusual(event.target.checked)}
            />{' '}
            These rates above $1000 per 1M tokens are right
          </label>
        ) : null}
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
