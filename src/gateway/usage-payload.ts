import { randomUUID } from 'node:crypto';
import type { Decimal } from '../money/decimal.js';
import { totalInputTokens, totalOutputTokens } from '../pricing/usage.js';
import type { CostBreakdown, NormalizedUsage, Resolution } from '../pricing/types.js';
import { isRecord } from '../util/is-record.js';
import { replaceTopLevelMember } from '../util/json-splice.js';

/** Usage the upstream reported beyond what the call could produce, and how it was charged. */
export interface ReportedAnomaly {
  reasons: string[];
  policy: 'cap' | 'charge';
  /** What the reported usage would have cost, when the policy charged less. */
  reported?: { charge: Decimal; debit: Decimal };
}

/** What a settled call reports to the caller: `usage` in OpenAI's shape plus the charge. */
export interface ChargeReport {
  usage: NormalizedUsage;
  breakdown: CostBreakdown;
  resolution: Resolution;
  /** What the ledger captured, in the account's unit: never more than was actually taken. */
  debit: { amount: Decimal; unit: 'usd' | 'tokens' };
  /** What the call cost and the ledger could not collect (the overdraft policy stopped it); zero normally. */
  shortfall: Decimal;
  creditsRemaining: Decimal | undefined;
  anomaly?: ReportedAnomaly;
}

/**
 * OpenAI's `usage` object from normalised usage, with `cost` (the charge in USD, as OpenRouter reports it)
 * and a `tollgate` block that explains it. `cost` is written into the JSON as the exact decimal literal
 * (see `serializeWithExactCost`), never through a float.
 */
export function usagePayload(report: ChargeReport, upstreamUsage?: Record<string, unknown>): Record<string, unknown> {
  const { usage } = report;
  const prompt = totalInputTokens(usage);
  const completion = totalOutputTokens(usage);
  return {
    ...(upstreamUsage ?? {}),
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: {
      ...(asObject(upstreamUsage?.prompt_tokens_details) ?? {}),
      cached_tokens: usage.input.cacheRead,
      ...(usage.input.cacheWrite + usage.input.cacheWrite1h > 0
        ? { cache_write_tokens: usage.input.cacheWrite + usage.input.cacheWrite1h }
        : {}),
      ...(usage.input.audio > 0 ? { audio_tokens: usage.input.audio } : {}),
    },
    completion_tokens_details: {
      ...(asObject(upstreamUsage?.completion_tokens_details) ?? {}),
      reasoning_tokens: usage.output.reasoning,
      ...(usage.output.audio > 0 ? { audio_tokens: usage.output.audio } : {}),
    },
    cost: COST_PLACEHOLDER,
    tollgate: chargeDetails(report),
  };
}

/**
 * The Responses API's `usage` (input_tokens with `input_tokens_details.cached_tokens`, output_tokens with
 * `output_tokens_details.reasoning_tokens`), with `cost` and the `tollgate` block as chat's.
 */
export function responsesUsagePayload(report: ChargeReport, upstreamUsage?: Record<string, unknown>): Record<string, unknown> {
  const { usage } = report;
  const input = totalInputTokens(usage);
  const output = totalOutputTokens(usage);
  const cacheWrite = usage.input.cacheWrite + usage.input.cacheWrite1h;
  return {
    ...(upstreamUsage ?? {}),
    input_tokens: input,
    input_tokens_details: {
      ...(asObject(upstreamUsage?.input_tokens_details) ?? {}),
      cached_tokens: usage.input.cacheRead,
      ...(cacheWrite > 0 ? { cache_write_tokens: cacheWrite } : {}),
    },
    output_tokens: output,
    output_tokens_details: {
      ...(asObject(upstreamUsage?.output_tokens_details) ?? {}),
      reasoning_tokens: usage.output.reasoning,
    },
    total_tokens: input + output,
    cost: COST_PLACEHOLDER,
    tollgate: chargeDetails(report),
  };
}

/**
 * Anthropic's Messages `usage`: `input_tokens` excludes cache reads and writes, which have fields of their
 * own (and the 5-minute / 1-hour split in `cache_creation`); with `cost` and the `tollgate` block.
 */
export function messagesUsagePayload(report: ChargeReport, upstreamUsage?: Record<string, unknown>): Record<string, unknown> {
  const { usage } = report;
  return {
    ...(upstreamUsage ?? {}),
    input_tokens: usage.input.uncached + usage.input.audio,
    cache_creation_input_tokens: usage.input.cacheWrite + usage.input.cacheWrite1h,
    cache_read_input_tokens: usage.input.cacheRead,
    cache_creation: {
      ephemeral_5m_input_tokens: usage.input.cacheWrite,
      ephemeral_1h_input_tokens: usage.input.cacheWrite1h,
    },
    output_tokens: totalOutputTokens(usage),
    cost: COST_PLACEHOLDER,
    tollgate: chargeDetails(report),
  };
}

/**
 * The charge of a call that has no token usage to show (embeddings show `prompt_tokens` only; audio and images
 * none): `cost` and the `tollgate` block, to merge into the shape's own usage object.
 */
export function chargePayload(report: ChargeReport): Record<string, unknown> {
  return { cost: COST_PLACEHOLDER, tollgate: chargeDetails(report) };
}

/** What the charge was made of: provider cost, markup, the debit and its unit, credits left, how it was priced. */
function chargeDetails(report: ChargeReport): Record<string, unknown> {
  const { usage, breakdown, resolution } = report;
  return {
    charge: breakdown.charge.toString(),
    provider_cost: breakdown.providerCost.toString(),
    markup: breakdown.markup?.amount.toString() ?? '0',
    currency: 'USD',
    debit: report.debit.amount.toString(),
    debit_unit: report.debit.unit,
    ...(report.shortfall.isPositive() ? { shortfall: report.shortfall.toString() } : {}),
    ...(report.anomaly
      ? {
          usage_anomaly: {
            reasons: report.anomaly.reasons,
            policy: report.anomaly.policy,
            ...(report.anomaly.reported
              ? {
                  reported_charge: report.anomaly.reported.charge.toString(),
                  reported_debit: report.anomaly.reported.debit.toString(),
                }
              : {}),
          },
        }
      : {}),
    credits_remaining: report.creditsRemaining?.toString() ?? null,
    estimated: usage.estimated,
    ...(usage.audioSeconds ? { audio_seconds: usage.audioSeconds } : {}),
    ...(usage.images ? { images: usage.images } : {}),
    pricing: {
      model: resolution.modelId ?? null,
      source: resolution.source,
      match: resolution.match,
      price_version: resolution.price.version ?? null,
      tier: breakdown.tier ?? null,
      // Steps another model ran within the call (Anthropic's advisor), priced at that model's own price.
      ...(breakdown.otherModels?.length
        ? {
            other_models: breakdown.otherModels.map((other) => ({
              model: other.model,
              priced_as: other.modelId ?? null,
              source: other.source,
              match: other.match,
              price_version: other.priceVersion ?? null,
              tier: other.tier ?? null,
              provider_cost: other.cost.toString(),
            })),
          }
        : {}),
    },
  };
}

/** Response headers that carry the charge (non-streaming responses; a stream's are sent before the cost is known). */
export function chargeHeaders(report: ChargeReport): Record<string, string> {
  return {
    'x-tollgate-cost': report.breakdown.charge.toString(),
    'x-tollgate-provider-cost': report.breakdown.providerCost.toString(),
    'x-tollgate-debit': `${report.debit.amount.toString()} ${report.debit.unit}`,
    ...(report.shortfall.isPositive() ? { 'x-tollgate-shortfall': `${report.shortfall.toString()} ${report.debit.unit}` } : {}),
    ...(report.anomaly ? { 'x-tollgate-usage-anomaly': report.anomaly.reported ? 'capped' : 'charged' } : {}),
    ...(report.creditsRemaining ? { 'x-tollgate-credits-remaining': report.creditsRemaining.toString() } : {}),
    ...(report.usage.estimated ? { 'x-tollgate-usage-estimated': 'true' } : {}),
  };
}

export function pricingHeaders(resolution: Resolution): Record<string, string> {
  return {
    'x-tollgate-pricing-source': resolution.source,
    'x-tollgate-pricing-match': resolution.match,
    ...(resolution.modelId ? { 'x-tollgate-model': resolution.modelId } : {}),
    ...(resolution.price.version !== undefined ? { 'x-tollgate-price-version': String(resolution.price.version) } : {}),
  };
}

// A per-process nonce, so no string a model generates can collide with the placeholder.
const COST_PLACEHOLDER = `__tollgate_cost_${randomUUID()}__`;
const QUOTED_PLACEHOLDER = JSON.stringify(COST_PLACEHOLDER);

/** JSON.stringify, with the usage's cost placeholder replaced by the exact decimal literal of the charge. */
export function serializeWithExactCost(body: unknown, charge: Decimal): string {
  const text = JSON.stringify(body);
  const at = text.lastIndexOf(QUOTED_PLACEHOLDER);
  if (at < 0) return text;
  return text.slice(0, at) + charge.toString() + text.slice(at + QUOTED_PLACEHOLDER.length);
}

/** An answer to relay: its JSON, and the upstream's text of it when `json` is that text parsed and nothing else. */
export interface RelayedAnswer {
  json: Record<string, unknown>;
  text?: string | undefined;
  /** The upstream's own usage object, when `json` is the upstream's answer in the caller's shape (kept in the payload). */
  upstreamUsage?: Record<string, unknown> | undefined;
}

/**
 * The answer with `usage` set to the gateway's: spliced into the upstream's own JSON text when there is one
 * (every other member passes through as the provider wrote it, and the generated text is not escaped a second
 * time), else the answer serialised with the member set. `cost` is the charge's exact literal either way.
 */
export function answerWithUsage({ json, text }: RelayedAnswer, usage: Record<string, unknown>, charge: Decimal): string {
  const spliced = text === undefined ? undefined : replaceTopLevelMember(text, 'usage', serializeWithExactCost(usage, charge));
  return spliced ?? serializeWithExactCost({ ...json, usage }, charge);
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) ? value : undefined;
}
