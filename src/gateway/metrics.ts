import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayError } from '../http/errors.js';
import type { PreparedCall } from './pipeline.js';
import type { ChargeReport } from './usage-payload.js';

/**
 * Prometheus metrics of the gateway, on a registry of its own (several gateways can live in one test
 * process). Money goes to Prometheus as floats because that is all it takes: display only, never read back.
 */
const UNPRICED = '(unpriced)';

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'tollgate_requests_total',
    help: 'Chat completion calls by model, provider and outcome',
    labelNames: ['model', 'provider', 'status', 'stream'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'tollgate_request_duration_seconds',
    help: 'Time from the call reaching the gateway to its settlement',
    labelNames: ['provider', 'stream'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private readonly cost = new Counter({
    name: 'tollgate_charge_usd_total',
    help: 'USD charged to customers (provider cost plus markup) by model and provider',
    labelNames: ['model', 'provider'] as const,
    registers: [this.registry],
  });
  private readonly providerCost = new Counter({
    name: 'tollgate_provider_cost_usd_total',
    help: 'USD owed to upstream providers by model and provider',
    labelNames: ['model', 'provider'] as const,
    registers: [this.registry],
  });
  private readonly credits = new Counter({
    name: 'tollgate_credits_debited_total',
    help: 'Credits debited from accounts, by unit (usd or tokens), model and provider',
    labelNames: ['unit', 'model', 'provider'] as const,
    registers: [this.registry],
  });
  private readonly tokens = new Counter({
    name: 'tollgate_tokens_total',
    help: 'Tokens billed, by kind, model and provider',
    labelNames: ['kind', 'model', 'provider'] as const,
    registers: [this.registry],
  });
  private readonly lookups = new Counter({
    name: 'tollgate_pricing_lookups_total',
    help: 'Price lookups by where the price came from (database, json, default) and how the name matched',
    labelNames: ['source', 'match'] as const,
    registers: [this.registry],
  });

  constructor(options: { collectDefaults?: boolean } = {}) {
    if (options.collectDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'tollgate_process_' });
  }

  /** Hook for the pricing catalog's lookups. */
  readonly onLookup = (source: string, match: string): void => {
    this.lookups.inc({ source, match });
  };

  observeCall(call: PreparedCall, report: ChargeReport, status: string): void {
    // Unpriced names come from callers: one label for all of them keeps the series count bounded.
    const model = report.resolution.modelId ?? UNPRICED;
    const provider = call.route.providerId;
    const stream = String(call.stream);
    this.requests.inc({ model, provider, status, stream });
    this.latency.observe({ provider, stream }, (performance.now() - call.startedAt) / 1000);
    this.cost.inc({ model, provider }, report.breakdown.charge.toNumberForDisplay());
    this.providerCost.inc({ model, provider }, report.breakdown.providerCost.toNumberForDisplay());
    this.credits.inc({ unit: report.debit.unit, model, provider }, report.debit.amount.toNumberForDisplay());
    const usage = report.usage;
    const kinds: Array<[string, number]> = [
      ['input', usage.input.uncached],
      ['cache_read', usage.input.cacheRead],
      ['cache_write', usage.input.cacheWrite + usage.input.cacheWrite1h],
      ['input_audio', usage.input.audio],
      ['output', usage.output.text],
      ['reasoning', usage.output.reasoning],
      ['output_audio', usage.output.audio],
    ];
    for (const [kind, count] of kinds) if (count > 0) this.tokens.inc({ kind, model, provider }, count);
  }

  observeFailure(call: PreparedCall, error: GatewayError): void {
    const model = call.resolution.modelId ?? UNPRICED;
    this.requests.inc({ model, provider: call.route.providerId, status: error.code, stream: String(call.stream) });
    this.latency.observe(
      { provider: call.route.providerId, stream: String(call.stream) },
      (performance.now() - call.startedAt) / 1000,
    );
  }

  /** Calls refused before reaching a provider (auth, validation, credits). */
  observeRejection(error: GatewayError): void {
    this.requests.inc({ model: 'none', provider: 'none', status: error.code, stream: 'false' });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
