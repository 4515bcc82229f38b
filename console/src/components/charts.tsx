import {
  BarController,
  BarElement,
  CategoryScale,
  Chart as ChartJS,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartOptions,
} from 'chart.js';
import { Bar, Line } from 'react-chartjs-2';
import { formatAmount, formatPerMillion, plotValue } from '../format/amounts.ts';
import { formatTime } from '../format/time.ts';
import { Decimal } from '../../../src/money/decimal.ts';

ChartJS.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  Legend,
);

const PALETTE = [
  '#2563eb',
  '#16a34a',
  '#ea580c',
  '#9333ea',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4b5563',
  '#65a30d',
  '#dc2626',
  '#94a3b8',
];

export interface SpendSeries {
  label: string;
  /** One exact amount per bucket. */
  values: string[];
}

/**
 * Spend per time bucket, stacked by model or provider. Bar heights are floats (a picture); the tooltip and
 * the table under the chart show each exact amount.
 */
export function StackedSpendChart(props: { buckets: string[]; series: SpendSeries[]; label: string }) {
  const { buckets, series } = props;
  const options: ChartOptions<'bar'> = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: (value) => `$${value}` } } },
    plugins: {
      tooltip: {
        callbacks: {
          label: (item) =>
            `${series[item.datasetIndex]?.label}: ${formatAmount(series[item.datasetIndex]?.values[item.dataIndex] ?? '0')}`,
        },
      },
      legend: { position: 'bottom' },
    },
  };
  return (
    <figure className="chart" aria-label={props.label} data-buckets={buckets.length} data-series={series.length}>
      <div className="chart-canvas">
        <Bar
          options={options}
          data={{
            labels: buckets,
            datasets: series.map((entry, index) => ({
              label: entry.label,
              data: entry.values.map(plotValue),
              backgroundColor: PALETTE[index % PALETTE.length],
            })),
          }}
        />
      </div>
      <details>
        <summary>Exact figures</summary>
        <table className="data-table compact">
          <thead>
            <tr>
              <th>Bucket</th>
              {series.map((entry) => (
                <th key={entry.label} className="numeric">
                  {entry.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {buckets.map((bucket, row) => (
              <tr key={bucket}>
                <td>{bucket}</td>
                {series.map((entry) => (
                  <td key={entry.label} className="numeric">
                    {formatAmount(entry.values[row] ?? '0')}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

export interface PricePoint {
  /** When the version took effect. */
  from: string;
  version: number;
  /** Per-token rates, exact. */
  rates: Record<string, string | undefined>;
}

const PLOTTED_RATES: Array<[string, string]> = [
  ['input', 'input'],
  ['output', 'output'],
  ['cacheRead', 'cache read'],
  ['cacheWrite', 'cache write'],
];

/**
 * A model's price over time, USD per 1M tokens, as steps: each version holds from its start until the next.
 * The canvas is labelled with the current prices and the number of versions, for people and tests alike.
 */
export function PriceHistoryChart(props: { points: PricePoint[]; now: string }) {
  const { points } = props;
  const plotted = PLOTTED_RATES.filter(([key]) => points.some((point) => point.rates[key] !== undefined));
  const times = points.map((point) => Date.parse(point.from));
  const end = Math.max(Date.parse(props.now), ...times);
  const last = points[points.length - 1];
  const summary = last
    ? plotted.map(([key, name]) => `${name} ${last.rates[key] ? formatPerMillion(last.rates[key]!) : '–'}`).join(', ')
    : 'no price';
  // Dates for a history of days or more; minutes too when every version falls within a few days.
  const short = end - Math.min(...times) < 3 * 86_400_000;
  const tick = (value: number) => {
    const iso = new Date(value).toISOString();
    return short ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10);
  };
  const options: ChartOptions<'line'> = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    scales: {
      x: { type: 'linear', ticks: { callback: (value) => tick(Number(value)), maxTicksLimit: 6 } },
      y: { beginAtZero: true, ticks: { callback: (value) => `$${value}` } },
    },
    plugins: {
      legend: { position: 'bottom' },
      tooltip: {
        callbacks: {
          title: (items) => {
            const point = points[Math.min(items[0]?.dataIndex ?? 0, points.length - 1)];
            return point ? `version ${point.version}, from ${formatTime(point.from)}` : '';
          },
          label: (item) => {
            const [key, name] = plotted[item.datasetIndex] ?? ['', ''];
            const point = points[Math.min(item.dataIndex, points.length - 1)];
            const rate = point?.rates[key];
            return `${name}: ${rate ? `${formatPerMillion(rate)} per 1M` : '–'}`;
          },
        },
      },
    },
  };
  return (
    <figure
      className="chart"
      aria-label={`price history, per 1M tokens: ${summary}; ${points.length} versions`}
      data-versions={points.length}
      data-current={last ? plotted.map(([key]) => `${key}=${last.rates[key] ?? ''}`).join(';') : ''}
    >
      <div className="chart-canvas">
        <Line
          options={options}
          data={{
            datasets: plotted.map(([key, name], index) => ({
              label: `${name} per 1M`,
              stepped: 'after' as const,
              borderColor: PALETTE[index % PALETTE.length],
              backgroundColor: PALETTE[index % PALETTE.length],
              // One point per version, and the last price held until now.
              data: [...points, ...(last ? [{ ...last, from: new Date(end).toISOString() }] : [])].map((point) => ({
                x: Date.parse(point.from),
                y: point.rates[key] === undefined ? Number.NaN : plotValue(Decimal.parse(point.rates[key]!).shift(6).toString()),
              })),
            })),
          }}
        />
      </div>
    </figure>
  );
}
