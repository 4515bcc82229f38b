import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayError } from './errors.js';
import { answeredBy, type PreparedCall } from './pipeline.js';
import type { ChargeReport } from './usage-payload.js';

/**
 * Prometheus metrics of the gateway, on a registry of its own (several gateways can live in one test
 * process). Money goes to Prometheus as floats because that is all it takes: display only, never read back.
 */
const UNPRICED = '(unpriced)';

/** Token kinds in the order of `tokenCounts`. */
const TOKEN_KINDS = ['input', 'cache_read', 'cache_write', 'input_audio', 'output', 'reasoning', 'output_audio'] as const;

/** Pending observations are handed to prom-client at every scrape and at least once per this many calls. */
const FLUSH_EVERY_CALLS = 1_000;

/** What the calls of one series (model, provider, stream, status, debit unit) added since the last flush. */
interface PendingCalls {
  model: string;
  provider: string;
  stream: string;
  status: string;
  unit: string;
  calls: number;
  latencies: number[];
  charge: number;
  providerCost: number;
  debit: number;
  tokens: number[];
}

export class GatewayMetrics {
  readonly registry = new Registry();
  // prom-client builds, hashes and checks a label set on every inc and observe: a dozen of them per call cost
  // more on the call path than the rest of its bookkeeping. Calls are summed per series here instead and
  // handed over in bulk; a scrape flushes first (each metric's `collect`), so what it reads is unchanged.
  private readonly pending = new Map<string, PendingCalls>();
  private readonly pendingLookups = new Map<string, { source: string; match: string; count: number }>();
  private pendingCount = 0;
  private readonly flush = (): void => this.flushPending();

  private readonly requests = new Counter({
    name: 'tollgate_requests_total',
    help: 'Chat completion calls by model, provider and outcome',
    labelNames: ['model', 'provider', 'status', 'stream'] as const,
    registers: [this.registry],
    collect: this.flush,
  });
  private readonly latency = new Histogram({
    name: 'tollgate_request_duration_seconds',
    help: 'Time from the call reaching the gateway to its settlement',
    labelNames: ['provider', 'stream'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
    collect: this.flush,
  });
  private readonly cost = new Counter({
    name: 'tollgate_charge_usd_total',
    help: 'USD charged to customers (provider cost plus markup) by model and provider',
    labelNames: ['model', 'provider'] as const,
    registers: [this.registry],
    collect: this.flush,
  });
  private readonly providerCost = new Counter({
    name: 'tollgate_provider_cost_usd_total',
    help: 'USD owed to upstream providers by model and provider',
    labelNames: ['model', 'provider'] as const,
    registers: [this.registry],
    collect: this.flush,
  });
  private readonly credits = new Counter({
    name: 'tollgate_credits_debited_total',
    help: 'Credits debited from accounts, by unit (usd or tokens), model and provider',
    labelNames: ['unit', 'model', 'provider'] as const,
    registers: [this.registry],
    collect: this.flush,
  });
  private readonly tokens = new Counter({
    name: 'tollgate_tokens_total',
    help: 'Tokens billed, by kind, model and provider',
    labelNames: ['kind', 'model', 'provider'] as const,
    registers: [this.registry],
    collect: this.flush,
  });
  private readonly lookups = new Counter({
    name: 'tollgate_pricing_lookups_total',
    help: 'Price lookups by where the price came from (database, json, default) and how the name matched',
    labelNames: ['source', 'match'] as const,
    registers: [this.registry],
    collect: this.flush,
  });

  private readonly shortfalls = new Counter({
    name: 'tollgate_shortfall_total',
    help: 'What settled calls cost and the ledger could not collect (the overdraft policy stopped it), by unit',
    labelNames: ['unit'] as const,
    registers: [this.registry],
  });
  private readonly shortfallCalls = new Counter({
    name: 'tollgate_shortfall_calls_total',
    help: 'Settled calls whose charge was not collected in full',
    labelNames: ['unit'] as const,
    registers: [this.registry],
  });
  private readonly anomalies = new Counter({
    name: 'tollgate_usage_anomalies_total',
    help: 'Calls whose upstream reported usage beyond what the call could produce, by provider and how they were charged',
    labelNames: ['provider', 'policy'] as const,
    registers: [this.registry],
  });

  private readonly renderOverride: (() => Promise<{ contentType: string; body: string }>) | undefined;

  /** `render`: what a scrape answers instead of this registry (a worker's answer is every worker's, aggregated). */
  constructor(options: { collectDefaults?: boolean; render?: () => Promise<{ contentType: string; body: string }> } = {}) {
    if (options.collectDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'tollgate_process_' });
    this.renderOverride = options.render;
  }

  /** Hook for the pricing catalog's lookups. */
  readonly onLookup = (source: string, match: string): void => {
    const key = `${source}\u0000${match}`;
    const pending = this.pendingLookups.get(key);
    if (pending) pending.count += 1;
    else this.pendingLookups.set(key, { source, match, count: 1 });
  };

  observeCall(call: PreparedCall, report: ChargeReport, status: string): void {
    // Unpriced names come from callers: one label for all of them keeps the series count bounded.
    const model = report.resolution.modelId ?? UNPRICED;
    const provider = answeredBy(call);
    const stream = call.stream ? 'true' : 'false';
    const unit = report.debit.unit;
    const key = `${model}\u0000${provider}\u0000${stream}\u0000${status}\u0000${unit}`;
    let series = this.pending.get(key);
    if (series === undefined) {
      const tokens = TOKEN_KINDS.map(() => 0);
      series = { model, provider, stream, status, unit, calls: 0, latencies: [], charge: 0, providerCost: 0, debit: 0, tokens };
      this.pending.set(key, series);
    }
    series.calls += 1;
    series.latencies.push((performance.now() - call.startedAt) / 1000);
    series.charge += report.breakdown.charge.toNumberForDisplay();
    series.providerCost += report.breakdown.providerCost.toNumberForDisplay();
    series.debit += report.debit.amount.toNumberForDisplay();
    const usage = report.usage;
    const tokens = series.tokens;
    tokens[0]! += usage.input.uncached;
    tokens[1]! += usage.input.cacheRead;
    tokens[2]! += usage.input.cacheWrite + usage.input.cacheWrite1h;
    tokens[3]! += usage.input.audio;
    tokens[4]! += usage.output.text;
    tokens[5]! += usage.output.reasoning;
    tokens[6]! += usage.output.audio;
    if (++this.pendingCount >= FLUSH_EVERY_CALLS) this.flushPending();
  }

  /** A settled call the ledger could not collect in full (rare: not worth batching). */
  observeShortfall(unit: string, amount: number): void {
    this.shortfalls.inc({ unit }, amount);
    this.shortfallCalls.inc({ unit });
  }

  observeAnomaly(provider: string, policy: string): void {
    this.anomalies.inc({ provider, policy });
  }

  observeFailure(call: PreparedCall, error: GatewayError): void {
    const model = call.resolution.modelId ?? UNPRICED;
    const provider = answeredBy(call);
    this.requests.inc({ model, provider, status: error.code, stream: String(call.stream) });
    this.latency.observe({ provider, stream: String(call.stream) }, (performance.now() - call.startedAt) / 1000);
  }

  /** Calls refused before reaching a provider (auth, validation, credits). */
  observeRejection(error: GatewayError): void {
    this.requests.inc({ model: 'none', provider: 'none', status: error.code, stream: 'false' });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    if (this.renderOverride) return this.renderOverride();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private flushPending(): void {
    for (const series of this.pending.values()) {
      const { model, provider, stream, status, unit } = series;
      this.requests.inc({ model, provider, status, stream }, series.calls);
      const latencyLabels = { provider, stream };
      for (const seconds of series.latencies) this.latency.observe(latencyLabels, seconds);
      this.cost.inc({ model, provider }, series.charge);
      this.providerCost.inc({ model, provider }, series.providerCost);
      this.credits.inc({ unit, model, provider }, series.debit);
      series.tokens.forEach((count, index) => {
        if (count > 0) this.tokens.inc({ kind: TOKEN_KINDS[index]!, model, provider }, count);
      });
    }
    this.pending.clear();
    this.pendingCount = 0;
    for (const { source, match, count } of this.pendingLookups.values()) this.lookups.inc({ source, match }, count);
    this.pendingLookups.clear();
  }
}
