import type { CostBreakdown, NormalizedUsage } from './types.js';
import type { Debit } from './budget.js';
import { Decimal } from '../money/decimal.js';
import { totalInputTokens, totalOutputTokens } from './usage.js';

/** What bounds a call's usage: what it asked for, and what its model can do (from the catalog). */
export interface UsageLimits {
  /** max_tokens / max_completion_tokens / max_output_tokens as the client sent it. */
  requestedMaxOutput: number | undefined;
  contextWindow: number | undefined;
  maxOutputTokens: number | undefined;
}

/** Usage a provider reported beyond what the call could produce, and why it is judged so. */
export interface UsageAnomaly {
  reasons: string[];
}

/**
 * How an anomalous call is charged: `cap` (default) at the worst case that was held for it, which the
 * account agreed to risk; `charge` as reported. An upstream that reports 10^12 tokens on a call with
 * max_tokens 5 (a bug, a compromised gateway, a unit mistake) must not drain an account.
 */
export type AnomalyPolicy = 'cap' | 'charge';

/** No model takes or writes this many tokens in one call (the largest context windows are about 2M). */
export const ABSOLUTE_TOKEN_LIMIT = 10_000_000;

/**
 * A limit is "far" exceeded past half again plus a little: providers count a few tokens differently (a stop
 * sequence, a role marker), and the catalog's limits are the sources' figures, not contracts.
 */
function farAbove(count: number, limit: number): boolean {
  return count > limit * 1.5 + 64;
}

/** The anomaly in `usage`, or undefined when it is within what the call could produce. */
export function findUsageAnomaly(usage: NormalizedUsage, limits: UsageLimits): UsageAnomaly | undefined {
  const input = totalInputTokens(usage);
  const output = totalOutputTokens(usage);
  // A call run as several steps (compaction): the window bounds each step's input, max_tokens the answer's output.
  const stepInput = usage.steps?.largestInput ?? input;
  const answerOutput = usage.steps?.answerOutput ?? output;
  const reasons: string[] = [];
  const counts = [
    usage.input.uncached,
    usage.input.cacheRead,
    usage.input.cacheWrite,
    usage.input.cacheWrite1h,
    usage.input.audio,
    usage.output.text,
    usage.output.reasoning,
    usage.output.audio,
  ];
  if (counts.some((count) => !Number.isSafeInteger(count) || count < 0))
    reasons.push('a token count is not a whole number from 0 to 2^53');
  reasons.push(...(usage.mismatch ?? []));
  if (input > ABSOLUTE_TOKEN_LIMIT) reasons.push(`${input} input tokens: more than any model takes (${ABSOLUTE_TOKEN_LIMIT})`);
  else if (limits.contextWindow !== undefined && farAbove(stepInput, limits.contextWindow))
    reasons.push(`${stepInput} input tokens: far above the model's context window of ${limits.contextWindow}`);
  if (output > ABSOLUTE_TOKEN_LIMIT)
    reasons.push(`${output} output tokens: more than any model writes (${ABSOLUTE_TOKEN_LIMIT})`);
  else if (limits.requestedMaxOutput !== undefined && farAbove(answerOutput, limits.requestedMaxOutput))
    reasons.push(`${answerOutput} output tokens: far above the ${limits.requestedMaxOutput} the call asked for at most`);
  else if (limits.maxOutputTokens !== undefined && farAbove(answerOutput, limits.maxOutputTokens))
    reasons.push(`${answerOutput} output tokens: far above the model's output limit of ${limits.maxOutputTokens}`);
  // Other models' steps (Anthropic's advisor) are bounded by their own models, not this call's: only past what any
  // model takes or writes are they beyond what the call could produce.
  for (const other of usage.otherModels ?? []) {
    const otherInput = totalInputTokens(other.usage);
    const otherOutput = totalOutputTokens(other.usage);
    if (otherInput > ABSOLUTE_TOKEN_LIMIT)
      reasons.push(`${otherInput} input tokens of ${other.model}'s steps: more than any model takes (${ABSOLUTE_TOKEN_LIMIT})`);
    if (otherOutput > ABSOLUTE_TOKEN_LIMIT)
      reasons.push(
        `${otherOutput} output tokens of ${other.model}'s steps: more than any model writes (${ABSOLUTE_TOKEN_LIMIT})`,
      );
  }
  return reasons.length > 0 ? { reasons } : undefined;
}

/** An anomalous call's charge under the policy, with what was reported kept beside it. */
export interface PolicyOutcome {
  breakdown: CostBreakdown;
  debit: Debit;
  /** What the reported usage would have cost; set when the policy charged less. */
  reported?: { charge: Decimal; debit: Decimal };
}

/**
 * Applies the policy: `cap` charges at most the worst case held (`worstCase`: the quote's charge and debit);
 * the breakdown's lines stay as reported (the record shows what the provider claimed), its charge is capped.
 */
export function applyAnomalyPolicy(
  policy: AnomalyPolicy,
  reported: { breakdown: CostBreakdown; debit: Debit },
  worstCase: { charge: Decimal; debit: Decimal },
): PolicyOutcome {
  if (policy === 'charge') return reported;
  const charge = Decimal.min(reported.breakdown.charge, worstCase.charge);
  const debit = Decimal.min(reported.debit.amount, worstCase.debit);
  if (charge.eq(reported.breakdown.charge) && debit.eq(reported.debit.amount)) return reported;
  return {
    breakdown: { ...reported.breakdown, charge },
    debit: { amount: debit, unit: reported.debit.unit },
    reported: { charge: reported.breakdown.charge, debit: reported.debit.amount },
  };
}
