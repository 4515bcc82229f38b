import type { BreakdownLine, CostBreakdown, UsageRecord } from '../api/types.ts';
import { compareAmounts, formatAmount, formatCount, formatPerMillion, sumAmounts } from '../format/amounts.ts';
import { formatTime } from '../format/time.ts';
import { Badge } from './feedback.tsx';

const PER_UNIT_COMPONENTS = new Set(['request', 'image']);

/**
 * One call explained to the cent: each priced component (units × rate = amount), the price version and how
 * the model's price was found, the markup, the charge, the ledger entry that took it, and the usage as the provider
 * reported it (before tollgate normalised it), to check a charge against the provider's own figures.
 */
export function CallDetail({ record }: { record: UsageRecord }) {
  const breakdown = record.breakdown;
  // The gateway charges an anomalous call (usage past what it could produce) at most the worst case it held:
  // then the charge is less than provider cost plus markup, and the page says why.
  const asReported = breakdown ? sumAmounts([breakdown.providerCost, breakdown.markup?.amount ?? '0']) : '0';
  const capped = breakdown !== null && compareAmounts(breakdown.charge, asReported) !== 0;
  return (
    <div className="call-detail" data-testid="call-detail">
      <dl className="facts">
        <dt>Request</dt>
        <dd>
          <code>{record.request_id}</code>
        </dd>
        <dt>Time</dt>
        <dd>{formatTime(record.created_at)}</dd>
        <dt>Account</dt>
        <dd>
          {record.account_name} {record.key_prefix ? <code>({record.key_prefix}…)</code> : null}
          {record.end_user ? ` · end user ${record.end_user}` : ''}
        </dd>
        <dt>Model</dt>
        <dd>
          {record.requested_model}
          {record.model && record.model !== record.requested_model ? ` → ${record.model}` : ''}
          {record.provider ? ` (${record.provider}${record.upstream_model ? `: ${record.upstream_model}` : ''})` : ''}
        </dd>
        <dt>Price version</dt>
        <dd data-testid="call-price-version">{record.price_version ?? '–'}</dd>
        <dt>Pricing</dt>
        <dd data-testid="call-pricing">
          source {record.pricing_source ?? '–'}, match {record.pricing_match ?? '–'}
          {breakdown?.tier ? `, tier above ${formatCount(breakdown.tier)} prompt tokens` : ''}
        </dd>
        <dt>Status</dt>
        <dd>
          <Badge tone={record.status === 'success' ? 'good' : 'bad'}>{record.status}</Badge> {record.error_code ?? ''}
          {record.stream ? ' · streamed' : ''}
          {record.usage_estimated ? ' · usage estimated (the provider sent none)' : ''}
          {record.latency_ms !== null ? ` · ${formatCount(record.latency_ms)} ms` : ''}
        </dd>
        <dt>Ledger entry</dt>
        <dd data-testid="call-ledger-entry">
          {record.ledger_entry_id ?? (record.status === 'success' ? 'not yet written' : 'none: not charged')}
        </dd>
      </dl>
      {breakdown ? (
        <table className="data-table compact" aria-label="cost breakdown">
          <thead>
            <tr>
              <th>Component</th>
              <th className="numeric">Units</th>
              <th className="numeric">Rate</th>
              <th className="numeric">Amount</th>
            </tr>
          </thead>
          <tbody>
            {breakdown.lines.map((line) => (
              <tr key={`${line.model ?? ''}:${line.component}`} data-model={line.model}>
                <td>
                  {line.component}
                  {line.model ? <OtherModel line={line} breakdown={breakdown} /> : null}
                  {line.fellBackTo ? <span className="hint"> (priced at the {line.fellBackTo} rate)</span> : null}
                </td>
                <td className="numeric">{formatCount(line.units)}</td>
                <td className="numeric" title={`${line.rate} USD per unit`}>
                  {PER_UNIT_COMPONENTS.has(line.component)
                    ? `${formatAmount(line.rate)} each`
                    : `${formatPerMillion(line.rate)} / 1M`}
                </td>
                <td className="numeric">{formatAmount(line.amount)}</td>
              </tr>
            ))}
            <tr className="subtotal">
              <td colSpan={3}>Provider cost</td>
              <td className="numeric" data-testid="call-provider-cost">
                {formatAmount(breakdown.providerCost)}
              </td>
            </tr>
            <tr>
              <td colSpan={3}>
                Markup
                {breakdown.markup
                  ? ` (${breakdown.markup.rule}: ${breakdown.markup.percent}% + ${formatAmount(breakdown.markup.fixedFee)} per call)`
                  : ' (none)'}
              </td>
              <td className="numeric" data-testid="call-markup">
                {formatAmount(breakdown.markup?.amount ?? '0')}
              </td>
            </tr>
            {capped ? (
              <tr>
                <td colSpan={3} data-testid="call-capped">
                  Capped: the upstream reported more than this call could produce
                  {record.usage_anomaly?.reasons?.length ? ` (${record.usage_anomaly.reasons.join('; ')})` : ''}, so it was
                  charged the worst case held for it; as reported it would have cost {formatAmount(asReported)}
                </td>
                <td />
              </tr>
            ) : null}
            <tr className="total">
              <td colSpan={3}>Charge</td>
              <td className="numeric" data-testid="call-charge">
                {formatAmount(breakdown.charge)}
              </td>
            </tr>
            {record.debit_unit !== 'usd' || record.debit !== record.charge ? (
              <tr>
                <td colSpan={3}>Debited from the account</td>
                <td className="numeric">{formatAmount(record.debit, record.debit_unit)}</td>
              </tr>
            ) : null}
          </tbody>
        </table>
      ) : (
        <p className="hint">No breakdown: the call was not priced ({record.status}).</p>
      )}
      {record.provider_usage !== null && record.provider_usage !== undefined ? (
        <details className="provider-usage">
          <summary>Usage as the provider reported it</summary>
          <pre data-testid="call-provider-usage">{JSON.stringify(record.provider_usage, null, 2)}</pre>
        </details>
      ) : null}
    </div>
  );
}

/**
 * The model a line of another model's steps within the call was priced at (Anthropic's advisor: the model the
 * call was made to consulted it), with that model's price version and how its price was found.
 */
function OtherModel({ line, breakdown }: { line: BreakdownLine; breakdown: CostBreakdown }) {
  const pricing = breakdown.otherModels?.find((other) => other.model === line.model);
  const version = pricing?.priceVersion ?? '–';
  const found = pricing ? `, source ${pricing.source}, match ${pricing.match}` : '';
  return (
    <span data-testid="call-line-model">
      {' '}
      · {line.model}
      {pricing?.modelId && pricing.modelId !== line.model ? ` → ${pricing.modelId}` : ''}
      <span className="hint">
        {' '}
        (price version {version}
        {found})
      </span>
    </span>
  );
}
