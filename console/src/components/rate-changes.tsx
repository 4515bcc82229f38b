import type { RateChange } from '../api/types.ts';
import { formatPerMillion } from '../format/amounts.ts';

const PER_TOKEN = new Set([
  'input',
  'output',
  'cache_read',
  'cache_write',
  'cache_write_1h',
  'reasoning',
  'input_audio',
  'output_audio',
]);

/** Old → new per rate, per 1M tokens for token rates, with the exact ratio the sync computed. */
export function RateChanges({ rates }: { rates: RateChange[] }) {
  if (rates.length === 0) return <span className="hint">no rate given</span>;
  const show = (rate: string, value: string | null) =>
    value === null ? '–' : PER_TOKEN.has(rate) ? `${formatPerMillion(value)}/1M` : `$${value}`;
  return (
    <ul className="rate-changes">
      {rates.map((change) => (
        <li key={change.rate}>
          {change.rate}: {show(change.rate, change.old)} → {show(change.rate, change.new)}
          {change.ratio ? <span className="hint"> ({change.ratio}x)</span> : null}
        </li>
      ))}
    </ul>
  );
}
