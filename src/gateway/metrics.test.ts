import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayError } from './errors.js';
import { Decimal } from '../money/decimal.js';
import { emptyUsage } from '../pricing/usage.js';
import { GatewayMetrics } from './metrics.js';
import type { PreparedCall } from './pipeline.js';
import type { ChargeReport } from './usage-payload.js';

/** A call as the pipeline prepares it, started `ageMs` ago: only what the metrics read is meaningful. */
function call(provider: string, stream: boolean, modelId: string | undefined, ageMs = 42): PreparedCall {
  return {
    resolution: { modelId },
    route: { providerId: provider },
    stream,
    startedAt: performance.now() - ageMs,
  } as unknown as PreparedCall;
}

function report(modelId: string | undefined, charge: string, tokens: { input: number; output: number; cacheRead?: number }) {
  const usage = emptyUsage();
  usage.input.uncached = tokens.input;
  usage.input.cacheRead = tokens.cacheRead ?? 0;
  usage.output.text = tokens.output;
  return {
    usage,
    breakdown: { providerCost: Decimal.parse(charge), charge: Decimal.parse(charge) },
    resolution: { modelId },
    debit: { amount: Decimal.parse(charge), unit: 'usd' },
    creditsRemaining: undefined,
  } as unknown as ChargeReport;
}

/** The value of one series in the exposition text, or undefined when the series is absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('gateway metrics', () => {
  // A call's duration is read from performance.now(): on the test's clock it is exactly the call's age, however
  // long the machine takes between preparing the call and observing it.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports calls, money, tokens and latency by series, as many times as it is scraped', async () => {
    const metrics = new GatewayMetrics();
    for (let index = 0; index < 3; index += 1)
      metrics.observeCall(
        call('openai', false, 'gpt-4o-mini'),
        report('gpt-4o-mini', '0.25', { input: 10, output: 5 }),
        'success',
      );
    metrics.observeCall(
      call('openai', true, 'gpt-4o-mini', 300),
      report('gpt-4o-mini', '0.5', { input: 1, output: 2, cacheRead: 7 }),
      'success',
    );
    metrics.observeCall(call('anthropic', false, undefined), report(undefined, '0', { input: 4, output: 0 }), 'aborted');

    let text = (await metrics.render()).body;
    expect(value(text, 'tollgate_requests_total{model="gpt-4o-mini",provider="openai",status="success",stream="false"}')).toBe(3);
    expect(value(text, 'tollgate_requests_total{model="gpt-4o-mini",provider="openai",status="success",stream="true"}')).toBe(1);
    expect(value(text, 'tollgate_requests_total{model="(unpriced)",provider="anthropic",status="aborted",stream="false"}')).toBe(
      1,
    );
    expect(value(text, 'tollgate_charge_usd_total{model="gpt-4o-mini",provider="openai"}')).toBe(1.25);
    expect(value(text, 'tollgate_provider_cost_usd_total{model="gpt-4o-mini",provider="openai"}')).toBe(1.25);
    expect(value(text, 'tollgate_credits_debited_total{unit="usd",model="gpt-4o-mini",provider="openai"}')).toBe(1.25);
    // A call that cost nothing still has its series, at 0.
    expect(value(text, 'tollgate_charge_usd_total{model="(unpriced)",provider="anthropic"}')).toBe(0);
    expect(value(text, 'tollgate_tokens_total{kind="input",model="gpt-4o-mini",provider="openai"}')).toBe(31);
    expect(value(text, 'tollgate_tokens_total{kind="cache_read",model="gpt-4o-mini",provider="openai"}')).toBe(7);
    expect(value(text, 'tollgate_tokens_total{kind="output",model="gpt-4o-mini",provider="openai"}')).toBe(17);
    // Kinds no call used have no series.
    expect(value(text, 'tollgate_tokens_total{kind="output",model="(unpriced)",provider="anthropic"}')).toBeUndefined();
    expect(value(text, 'tollgate_tokens_total{kind="reasoning",model="gpt-4o-mini",provider="openai"}')).toBeUndefined();
    expect(value(text, 'tollgate_request_duration_seconds_count{provider="openai",stream="false"}')).toBe(3);
    expect(value(text, 'tollgate_request_duration_seconds_bucket{le="0.025",provider="openai",stream="false"}')).toBe(0);
    expect(value(text, 'tollgate_request_duration_seconds_bucket{le="0.05",provider="openai",stream="false"}')).toBe(3);
    expect(value(text, 'tollgate_request_duration_seconds_bucket{le="0.25",provider="openai",stream="true"}')).toBe(0);
    expect(value(text, 'tollgate_request_duration_seconds_bucket{le="0.5",provider="openai",stream="true"}')).toBe(1);
    expect(value(text, 'tollgate_request_duration_seconds_sum{provider="openai",stream="false"}')).toBeCloseTo(0.126, 12);

    // Scraped again after more calls: the totals go on from where they were.
    metrics.observeCall(call('openai', false, 'gpt-4o-mini'), report('gpt-4o-mini', '0.25', { input: 10, output: 5 }), 'success');
    text = (await metrics.render()).body;
    expect(value(text, 'tollgate_requests_total{model="gpt-4o-mini",provider="openai",status="success",stream="false"}')).toBe(4);
    expect(value(text, 'tollgate_charge_usd_total{model="gpt-4o-mini",provider="openai"}')).toBe(1.5);
    expect(value(text, 'tollgate_request_duration_seconds_count{provider="openai",stream="false"}')).toBe(4);
    // A scrape with nothing new changes nothing.
    expect((await metrics.render()).body).toBe(text);
  });

  it('keeps every call of a long run between scrapes', async () => {
    const metrics = new GatewayMetrics();
    for (let index = 0; index < 2_500; index += 1)
      metrics.observeCall(call('openai', false, 'gpt-4o-mini'), report('gpt-4o-mini', '0.5', { input: 2, output: 1 }), 'success');
    const text = (await metrics.render()).body;
    expect(value(text, 'tollgate_requests_total{model="gpt-4o-mini",provider="openai",status="success",stream="false"}')).toBe(
      2_500,
    );
    expect(value(text, 'tollgate_request_duration_seconds_count{provider="openai",stream="false"}')).toBe(2_500);
    expect(value(text, 'tollgate_charge_usd_total{model="gpt-4o-mini",provider="openai"}')).toBe(1_250);
    expect(value(text, 'tollgate_tokens_total{kind="input",model="gpt-4o-mini",provider="openai"}')).toBe(5_000);
  });

  it('counts price lookups, failures and rejections', async () => {
    const metrics = new GatewayMetrics();
    metrics.onLookup('database', 'exact');
    metrics.onLookup('database', 'exact');
    metrics.onLookup('default', 'default');
    metrics.observeFailure(call('openai', true, 'gpt-4o'), new GatewayError('upstream_timeout', 'slow'));
    metrics.observeRejection(new GatewayError('insufficient_credits', 'no'));
    const text = (await metrics.render()).body;
    expect(value(text, 'tollgate_pricing_lookups_total{source="database",match="exact"}')).toBe(2);
    expect(value(text, 'tollgate_pricing_lookups_total{source="default",match="default"}')).toBe(1);
    expect(value(text, 'tollgate_requests_total{model="gpt-4o",provider="openai",status="upstream_timeout",stream="true"}')).toBe(
      1,
    );
    expect(value(text, 'tollgate_request_duration_seconds_count{provider="openai",stream="true"}')).toBe(1);
    expect(
      value(text, 'tollgate_requests_total{model="none",provider="none",status="insufficient_credits",stream="false"}'),
    ).toBe(1);
  });
});
