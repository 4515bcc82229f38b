import type { PricingCatalog } from '../catalog/snapshot.js';
import type { Config } from '../config/config.js';
import type { BudgetMode } from '../db/schema.js';
import { GatewayError } from './errors.js';
import { InsufficientCreditsError, LedgerError } from '../ledger/errors.js';
import type { CallHold, CallReservations } from '../ledger/reservations.js';
import type { Logger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { debitFor } from '../pricing/budget.js';
import { priceUsage } from '../pricing/cost.js';
import type { MarkupRules } from '../catalog/markup-rules.js';
import { applyMarkup, type MarkupRule } from '../pricing/markup.js';
import { quoteUsage, type Quote } from '../pricing/quote.js';
import type { NormalizedUsage, Resolution } from '../pricing/types.js';
import { applyAnomalyPolicy, findUsageAnomaly, type UsageLimits } from '../pricing/usage-anomaly.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { toGatewayError } from './error-mapping.js';
import { totalTokens, type Admission, type CallLimits } from './call-limits.js';
import { endUserOf } from './usage-recorder.js';
import type { GatewayMetrics } from './metrics.js';
import { intendedProvider, routeCall, type Route } from './routing.js';
import type { ChargeReport, ReportedAnomaly } from './usage-payload.js';
import type { UsageRecorder } from './usage-recorder.js';

/** Who is calling: the account behind the API key, as the gateway needs it. */
export interface Caller {
  accountId: string;
  mode: BudgetMode;
  jobPrice: Decimal | undefined;
  markup: { percent?: Decimal; fixedFee?: Decimal } | undefined;
  keyId: string;
  /**
   * A team's account chain: the caller's account first, its parents after, the wallet (whose balance every
   * hold and capture is written against) last. Absent: the account is its own wallet.
   */
  chain?: readonly string[];
  /** The models the key may call (names or `*` patterns); absent or null: every model. */
  allowedModels?: readonly string[] | null;
  /** The end user named by the configured header (TOLLGATE_END_USER_HEADER), for a call whose body names none. */
  endUser?: string;
}

/** The account whose balance pays for the caller's calls: the root of its team chain. */
export function walletOf(caller: Caller): string {
  return caller.chain?.[caller.chain.length - 1] ?? caller.accountId;
}

export interface GatewayServices {
  config: Config;
  catalog: PricingCatalog;
  markups: MarkupRules;
  reservations: CallReservations;
  registry: ProviderRegistry;
  recorder: UsageRecorder;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Caps, rate limits and key controls (src/gateway/call-limits.ts). */
  limits: CallLimits;
  /** Told what the caller's wallet has left after each settled call (low-balance alerts). */
  onCreditsLeft(walletId: string, creditsLeft: Decimal): void;
  /** Told of every call whose upstream reported impossible usage (the gateway raises an alert). */
  onAnomaly(call: PreparedCall, anomaly: ReportedAnomaly): void;
}

/** The kinds of call, one per API shape at the edge; each is recorded and labelled in metrics. */
export type CallOperation = 'chat' | 'responses' | 'messages' | 'completions' | 'embeddings' | 'transcriptions' | 'images';

/**
 * What a route's codec asks of the pipeline: which model, and how to bound the call's cost before it runs.
 * The same prepare, settle and fail serve every shape; only this differs.
 */
export interface CallIntent {
  /** The model the caller named. */
  model: string;
  operation: CallOperation;
  /** The prompt's tokens counted locally: the estimate used when a provider reports no usage. */
  promptTokens: number;
  /** The output limit the caller set (max_tokens, max_output_tokens), if any: reported usage far past it is an anomaly. */
  requestedMaxOutput?: number;
  /**
   * The caller's own end user, as the request names it (OpenAI's `user`, Anthropic's `metadata.user_id`), raw:
   * recorded with the call (reports and rollups by end user) when it is a usable string.
   */
  endUser?: unknown;
  /**
   * The call's usage at its worst for the resolved model (tokens, seconds of audio, images of a size): what is
   * held. See `tokenWorstCase` for calls bounded by an output limit.
   * @throws GatewayError invalid_request for a request the model cannot take (max_tokens above its limit).
   */
  worstCase(resolution: Resolution, defaults: { maxOutputTokens: number }): NormalizedUsage;
}

/** A call that passed auth, resolution and the hold: what is needed to finish it either way. */
export interface PreparedCall {
  requestId: string;
  caller: Caller;
  intent: CallIntent;
  resolution: Resolution;
  /** When the call was priced (its resolution's time): the steps of other models within it are priced as of then. */
  pricedAt: Date;
  route: Route;
  markup: MarkupRule | undefined;
  promptTokens: number;
  /** What bounds the call's usage: reported usage far beyond it is an anomaly. */
  limits: UsageLimits;
  /** The worst case held: its charge (USD) and debit (the account's unit). */
  worstCase: { charge: Decimal; debit: Decimal };
  hold: CallHold;
  /** The call's place under its caps and rate limits, settled or released with the hold. */
  admission: Admission;
  startedAt: number;
  stream: boolean;
}

/**
 * The path of one call: resolve → quote the worst case → hold → (the caller runs the upstream call) →
 * settle: price the actual usage, capture it and release the rest, or release everything on failure →
 * record. `prepare` and `settle`/`fail` are split so the streaming and non-streaming routes share them.
 */
export class CallPipeline {
  /** Calls prepared (their credits held) and not yet settled or failed. */
  private readonly active = new Set<PreparedCall>();
  private whenDrained: Array<() => void> = [];

  constructor(private readonly services: GatewayServices) {}

  /**
   * Resolves once no call is between its hold and its settlement: at shutdown, after the server has closed its
   * connections, a stream whose client left is still settling (its capture not yet submitted), and the writers
   * must not close before it is. Resolves after `limitMs` at the latest (false then: some call never settled).
   */
  async drained(limitMs: number): Promise<boolean> {
    if (this.active.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((resolve) => this.whenDrained.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), limitMs))),
    ]);
    clearTimeout(timer);
    return done;
  }

  private finished(call: PreparedCall): void {
    if (!this.active.delete(call) || this.active.size > 0) return;
    const waiting = this.whenDrained;
    this.whenDrained = [];
    for (const wake of waiting) wake();
  }

  /**
   * A model name resolved as a call to it is priced: with the provider the call would be sent to, so a bare name
   * several providers list takes that provider's listing (GET /v1/models/<name> answers the same).
   */
  resolveModel(model: string, at?: Date): Resolution | undefined {
    const { catalog, config, registry } = this.services;
    return catalog.resolve(model, at, { provider: intendedProvider(model, registry, config.defaultProvider) });
  }

  /**
   * The price of a model whose steps ran within the call (Anthropic's advisor): resolved as the call's own model
   * was, on the provider the call was sent to and as of the time it was priced, and never refused (the steps
   * ran and the provider bills them): a model the catalog does not price gets the default price, match
   * `default`, whatever TOLLGATE_UNPRICED_MODELS says.
   */
  private resolveOtherModel(call: PreparedCall, model: string): Resolution {
    return this.services.catalog.resolveRan(model, call.pricedAt, { provider: call.route.providerId });
  }

  /**
   * @throws GatewayError model_not_found (unpriced model, reject mode), upstream_not_configured,
   *   invalid_request (a limit the model cannot meet), insufficient_credits (402), account_suspended.
   */
  async prepare(intent: CallIntent, caller: Caller, options: { requestId: string; stream: boolean }): Promise<PreparedCall> {
    const { config, markups, registry, reservations, limits } = this.services;
    const startedAt = performance.now();
    const { requestId } = options;
    const pricedAt = new Date();
    const resolution = this.resolveModel(intent.model, pricedAt);
    if (!resolution) {
      throw new GatewayError(
        'model_not_found',
        `model ${JSON.stringify(intent.model)} has no price in the catalog and unpriced models are rejected on this gateway`,
        'model',
      );
    }
    limits.checkModel(caller.allowedModels, intent.model, resolution.modelId);
    const route = routeCall(resolution, registry, config);
    const markup = markups.find({
      accountId: caller.accountId,
      accountMarkup: caller.markup,
      modelId: resolution.modelId,
      providerId: route.providerId,
    });
    const worstCase = intent.worstCase(resolution, {
      maxOutputTokens: resolution.maxOutputTokens ?? config.defaultMaxOutputTokens,
    });
    const quote = quoteUsage({ resolution, usage: worstCase, markup, mode: caller.mode, jobPrice: caller.jobPrice });
    // The rate limits and caps of the key, the end user and the team.
    const admission = await limits.admit(
      { keyId: caller.keyId, chain: caller.chain ?? [caller.accountId] },
      endUserOf(intent.endUser) ?? caller.endUser,
      { debit: quote.debit.amount, tokens: totalTokens(worstCase) },
    );
    const hold = await reservations
      .hold({ accountId: walletOf(caller), requestId, amount: quote.debit.amount })
      .catch(async (error: unknown) => {
        await limits.release(admission);
        // The ledger's refusals (402 insufficient credits, 403 suspended) in the gateway's error catalog. A
        // refusal of a credit lease names the lease's size (32 calls' worth); the caller is told this call's.
        if (error instanceof InsufficientCreditsError) throw insufficientCredits(intent, quote, error, caller.mode);
        throw error instanceof LedgerError ? toGatewayError(error) : error;
      });
    const call: PreparedCall = {
      requestId,
      caller,
      intent,
      resolution,
      pricedAt,
      route,
      markup,
      promptTokens: intent.promptTokens,
      limits: {
        requestedMaxOutput: intent.requestedMaxOutput,
        contextWindow: resolution.contextWindow,
        maxOutputTokens: resolution.maxOutputTokens,
      },
      worstCase: { charge: quote.breakdown.charge, debit: quote.debit.amount },
      hold,
      admission,
      startedAt,
      stream: options.stream,
    };
    this.active.add(call);
    return call;
  }

  /**
   * Prices the actual usage, captures it (releasing the rest of the hold) and records the call. Usage beyond
   * what the call could produce is charged under the anomaly policy (default: at most the worst case held).
   * The report's debit is what the ledger captured; what it could not collect is the shortfall.
   * @throws GatewayError when the capture cannot be written (the hold is released first, nothing is charged)
   */
  async settle(call: PreparedCall, usage: NormalizedUsage, status: 'success' | 'aborted' = 'success'): Promise<ChargeReport> {
    try {
      return await this.settleCall(call, usage, status);
    } finally {
      this.finished(call);
    }
  }

  private async settleCall(call: PreparedCall, usage: NormalizedUsage, status: 'success' | 'aborted'): Promise<ChargeReport> {
    const { reservations, metrics, recorder, config } = this.services;
    // Steps another model ran within the call (Anthropic's advisor) are priced at that model's price, beside the call's own.
    const base = priceUsage(usage, call.resolution.price, (model) => this.resolveOtherModel(call, model));
    const reported = applyMarkup(base, call.markup);
    let breakdown = reported;
    let debit = debitFor(call.caller.mode, { breakdown, usage, jobPrice: call.caller.jobPrice });
    let anomaly: ReportedAnomaly | undefined;
    const found = findUsageAnomaly(usage, call.limits);
    if (found) {
      const policy = config.usageAnomalyPolicy;
      const outcome = applyAnomalyPolicy(policy, { breakdown, debit }, call.worstCase);
      ({ breakdown, debit } = outcome);
      anomaly = { reasons: found.reasons, policy, ...(outcome.reported ? { reported: outcome.reported } : {}) };
      metrics.observeAnomaly(call.route.providerId, policy);
      this.services.onAnomaly(call, anomaly);
    }
    let charged;
    try {
      // The capture is the money: its amount and the price version it was priced at. The usage and the breakdown
      // go with the call's usage record (recorder.record below), the provider's raw usage included.
      charged = await reservations.settle(call.hold, { amount: debit.amount, priceVersion: call.resolution.price.version });
    } catch (error) {
      // Nothing was captured (the capture could not be written): the call answers 500 "not charged", so its
      // hold goes back now rather than staying reserved until the sweeper, and it is recorded as failed.
      throw await this.fail(call, error);
    }
    await this.services.limits
      .settle(call.admission, charged.captured, usage)
      .catch((error: unknown) =>
        this.services.logger.error({ err: error, requestId: call.requestId }, 'could not settle the call on its limits'),
      );
    const report: ChargeReport = {
      usage,
      breakdown,
      resolution: call.resolution,
      debit: { amount: charged.captured, unit: debit.unit },
      shortfall: charged.shortfall,
      creditsRemaining: charged.creditsLeft,
      ...(anomaly ? { anomaly } : {}),
    };
    this.services.onCreditsLeft(walletOf(call.caller), charged.creditsLeft);
    if (charged.shortfall.isPositive()) metrics.observeShortfall(debit.unit, charged.shortfall.toNumberForDisplay());
    metrics.observeCall(call, report, status);
    recorder.record(call, { status, report, latencyMs: performance.now() - call.startedAt });
    return report;
  }

  /** Releases the whole hold (nothing is charged for a failed call) and records the failure. */
  async fail(call: PreparedCall, error: unknown): Promise<GatewayError> {
    try {
      return await this.failCall(call, error);
    } finally {
      this.finished(call);
    }
  }

  private async failCall(call: PreparedCall, error: unknown): Promise<GatewayError> {
    const { reservations, metrics, recorder, logger } = this.services;
    const mapped = toGatewayError(error);
    try {
      await reservations.release(call.hold, mapped.code);
    } catch (releaseError) {
      // The sweeper releases it later; the caller still gets the upstream's error.
      logger.error({ err: releaseError, requestId: call.requestId }, 'could not release hold; the sweeper will');
    }
    await this.services.limits
      .release(call.admission)
      .catch((limitError: unknown) =>
        logger.error({ err: limitError, requestId: call.requestId }, 'could not release the call on its limits'),
      );
    metrics.observeFailure(call, mapped);
    // A client that left before any answer: an aborted call (nothing charged), not an error of the gateway or the upstream.
    const status = mapped.code === 'client_closed' ? 'aborted' : 'error';
    recorder.record(call, { status, errorCode: mapped.code, latencyMs: performance.now() - call.startedAt });
    mapped.requestId = call.requestId;
    return mapped;
  }
}

/** The provider that answered a call, for records, metrics and headers: `demo` when the demo stood in. */
export function answeredBy(call: Pick<PreparedCall, 'route'>): string {
  return call.route.demo ? 'demo' : call.route.providerId;
}

/**
 * The 402 for a call the account cannot cover: what this call needs at most (its worst case), what the
 * account has available, and what to do about it.
 */
function insufficientCredits(
  intent: CallIntent,
  quote: Quote,
  refusal: InsufficientCreditsError,
  mode: Caller['mode'],
): GatewayError {
  const unit = quote.debit.unit === 'usd' ? 'USD' : 'tokens';
  const available = Decimal.max(Decimal.ZERO, refusal.available);
  // A job-based account pays its job price whatever the call's size: a lower output limit changes nothing.
  const limit =
    mode !== 'job_based' &&
    (intent.operation === 'chat' ||
      intent.operation === 'responses' ||
      intent.operation === 'messages' ||
      intent.operation === 'completions')
      ? ' or lower the output limit (max_tokens)'
      : '';
  return new GatewayError(
    'insufficient_credits',
    `insufficient credits: this call needs up to ${quote.debit.amount.toString()} ${unit} (its worst case for ${intent.model}) ` +
      `and ${available.toString()} ${unit} are available; top up the account's credits${limit}`,
  );
}
