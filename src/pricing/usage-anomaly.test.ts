import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import type { CostBreakdown } from './types.js';
import { ABSOLUTE_TOKEN_LIMIT, applyAnomalyPolicy, findUsageAnomaly, type UsageLimits } from './usage-anomaly.js';
import { emptyUsage } from './usage.js';

const d = Decimal.parse;
const NO_LIMITS: UsageLimits = { requestedMaxOutput: undefined, contextWindow: undefined, maxOutputTokens: undefined };

function usage(counts: { uncached?: number; cacheRead?: number; text?: number; reasoning?: number; audio?: number }) {
  const built = emptyUsage();
  built.input.uncached = counts.uncached ?? 0;
  built.input.cacheRead = counts.cacheRead ?? 0;
  built.output.text = counts.text ?? 0;
  built.output.reasoning = counts.reasoning ?? 0;
  built.output.audio = counts.audio ?? 0;
  return built;
}

describe('findUsageAnomaly', () => {
  it("judges the call's own counts by its limits, and another model's steps only past what any model takes", () => {
    // Anthropic's advisor: the executor read 900 and wrote 100 within its limits; the advisor (another model, with
    // limits of its own) read 2,518, past this call's window, and is not judged by it.
    const limits = { requestedMaxOutput: 100, contextWindow: 1_000, maxOutputTokens: 200 };
    const advised = usage({ uncached: 900, text: 100 });
    advised.otherModels = [{ model: 'claude-opus-4-8', usage: usage({ uncached: 2_518, text: 220 }) }];
    expect(findUsageAnomaly(advised, limits)).toBeUndefined();
    advised.otherModels = [
      {
        model: 'claude-opus-4-8',
        usage: usage({ uncached: ABSOLUTE_TOKEN_LIMIT, cacheRead: 1, text: ABSOLUTE_TOKEN_LIMIT + 1 }),
      },
    ];
    expect(findUsageAnomaly(advised, limits)).toEqual({
      reasons: [
        `${ABSOLUTE_TOKEN_LIMIT + 1} input tokens of claude-opus-4-8's steps: more than any model takes (${ABSOLUTE_TOKEN_LIMIT})`,
        `${ABSOLUTE_TOKEN_LIMIT + 1} output tokens of claude-opus-4-8's steps: more than any model writes (${ABSOLUTE_TOKEN_LIMIT})`,
      ],
    });
  });

  it('accepts usage within every limit, and up to half again plus 64 tokens past one', () => {
    const limits = { requestedMaxOutput: 100, contextWindow: 1_000, maxOutputTokens: 200 };
    expect(findUsageAnomaly(usage({ uncached: 900, text: 100 }), limits)).toBeUndefined();
    // 1.5 x 1,000 + 64 = 1,564 input tokens; 1.5 x 100 + 64 = 214 output tokens: still believable.
    expect(findUsageAnomaly(usage({ uncached: 1_000, cacheRead: 564, text: 150, reasoning: 64 }), limits)).toBeUndefined();
  });

  it('names input far above the context window, counting every input token', () => {
    const limits = { ...NO_LIMITS, contextWindow: 1_000 };
    expect(findUsageAnomaly(usage({ uncached: 1_000, cacheRead: 565 }), limits)).toEqual({
      reasons: ["1565 input tokens: far above the model's context window of 1000"],
    });
  });

  it("names output far above what the call asked for, before the model's own limit", () => {
    const limits = { requestedMaxOutput: 100, contextWindow: undefined, maxOutputTokens: 200 };
    expect(findUsageAnomaly(usage({ text: 150, reasoning: 65 }), limits)).toEqual({
      reasons: ['215 output tokens: far above the 100 the call asked for at most'],
    });
    const modelOnly = { ...NO_LIMITS, maxOutputTokens: 200 };
    expect(findUsageAnomaly(usage({ text: 364 }), modelOnly)).toBeUndefined();
    expect(findUsageAnomaly(usage({ text: 300, audio: 65 }), modelOnly)).toEqual({
      reasons: ["365 output tokens: far above the model's output limit of 200"],
    });
  });

  it("bounds a step's input by the window and the answer's output by max_tokens, in a call run as several steps", () => {
    const limits = { requestedMaxOutput: 100, contextWindow: 1_000, maxOutputTokens: 200 };
    // A compaction step read 900 and wrote 500; the answer read 700 and wrote 100: the sums are past both limits.
    const compacted = usage({ uncached: 1_600, text: 600 });
    expect(findUsageAnomaly(compacted, limits)).toEqual({
      reasons: [
        "1600 input tokens: far above the model's context window of 1000",
        '600 output tokens: far above the 100 the call asked for at most',
      ],
    });
    compacted.steps = { largestInput: 900, answerOutput: 100 };
    expect(findUsageAnomaly(compacted, limits)).toBeUndefined();
    compacted.steps = { largestInput: 1_565, answerOutput: 215 };
    expect(findUsageAnomaly(compacted, limits)).toEqual({
      reasons: [
        "1565 input tokens: far above the model's context window of 1000",
        '215 output tokens: far above the 100 the call asked for at most',
      ],
    });
    compacted.steps = { largestInput: 900, answerOutput: 365 };
    expect(findUsageAnomaly(compacted, { ...limits, requestedMaxOutput: undefined })).toEqual({
      reasons: ["365 output tokens: far above the model's output limit of 200"],
    });
  });

  it('names counts no model produces, whatever the limits', () => {
    expect(findUsageAnomaly(usage({ uncached: ABSOLUTE_TOKEN_LIMIT, text: ABSOLUTE_TOKEN_LIMIT }), NO_LIMITS)).toBeUndefined();
    expect(findUsageAnomaly(usage({ uncached: ABSOLUTE_TOKEN_LIMIT + 1, text: ABSOLUTE_TOKEN_LIMIT + 1 }), NO_LIMITS)).toEqual({
      reasons: [
        `${ABSOLUTE_TOKEN_LIMIT + 1} input tokens: more than any model takes (${ABSOLUTE_TOKEN_LIMIT})`,
        `${ABSOLUTE_TOKEN_LIMIT + 1} output tokens: more than any model writes (${ABSOLUTE_TOKEN_LIMIT})`,
      ],
    });
    // Past the absolute limit, the per-call limits are not named again.
    expect(
      findUsageAnomaly(usage({ text: ABSOLUTE_TOKEN_LIMIT + 1 }), { ...NO_LIMITS, requestedMaxOutput: 10 })?.reasons,
    ).toHaveLength(1);
  });

  it('names what the provider reported that does not add up, after the counts and before the limits', () => {
    const odd = usage({ cacheRead: 150, text: 5 });
    odd.mismatch = ['cached (150), cache-write (0) and audio (0) tokens exceed the 100 prompt tokens they are part of'];
    expect(findUsageAnomaly(odd, NO_LIMITS)).toEqual({ reasons: odd.mismatch });
    odd.output.text = 1000;
    odd.input.audio = -1;
    expect(findUsageAnomaly(odd, { ...NO_LIMITS, requestedMaxOutput: 10 })?.reasons).toEqual([
      'a token count is not a whole number from 0 to 2^53',
      ...odd.mismatch,
      '1000 output tokens: far above the 10 the call asked for at most',
    ]);
  });

  it('names a count that is not a whole number from 0 to 2^53, in any field', () => {
    for (const field of ['uncached', 'cacheRead', 'cacheWrite', 'cacheWrite1h', 'audio'] as const) {
      const bad = emptyUsage();
      bad.input[field] = -1;
      expect(findUsageAnomaly(bad, NO_LIMITS)?.reasons[0], field).toBe('a token count is not a whole number from 0 to 2^53');
    }
    for (const field of ['text', 'reasoning', 'audio'] as const) {
      const bad = emptyUsage();
      bad.output[field] = 1.5;
      expect(findUsageAnomaly(bad, NO_LIMITS)?.reasons[0], field).toBe('a token count is not a whole number from 0 to 2^53');
    }
    expect(findUsageAnomaly(usage({ text: 0 }), NO_LIMITS)).toBeUndefined();
  });
});

describe('applyAnomalyPolicy', () => {
  const breakdown = (charge: string): CostBreakdown => ({
    lines: [],
    tier: undefined,
    providerCost: d(charge),
    markup: undefined,
    charge: d(charge),
  });
  const worstCase = { charge: d('0.5'), debit: d('0.5') };

  it('cap: charges at most the worst case held, keeping what was reported beside it', () => {
    const outcome = applyAnomalyPolicy('cap', { breakdown: breakdown('7'), debit: { amount: d('7'), unit: 'usd' } }, worstCase);
    expect(outcome.breakdown.charge.toString()).toBe('0.5');
    expect(outcome.breakdown.providerCost.toString()).toBe('7');
    expect(outcome.debit).toEqual({ amount: d('0.5'), unit: 'usd' });
    expect(outcome.reported).toEqual({ charge: d('7'), debit: d('7') });
  });

  it('cap: caps the debit alone when only the debit is past the worst case (a token account)', () => {
    const outcome = applyAnomalyPolicy(
      'cap',
      { breakdown: breakdown('0.1'), debit: { amount: d('9000'), unit: 'tokens' } },
      { charge: d('0.2'), debit: d('1000') },
    );
    expect([outcome.breakdown.charge.toString(), outcome.debit.amount.toString(), outcome.debit.unit]).toEqual([
      '0.1',
      '1000',
      'tokens',
    ]);
    expect(outcome.reported).toEqual({ charge: d('0.1'), debit: d('9000') });
  });

  it('cap: within the worst case, the reported charge stands as it is', () => {
    const reported = { breakdown: breakdown('0.5'), debit: { amount: d('0.5'), unit: 'usd' as const } };
    expect(applyAnomalyPolicy('cap', reported, worstCase)).toBe(reported);
  });

  it('charge: the reported usage is charged in full', () => {
    const reported = { breakdown: breakdown('7'), debit: { amount: d('7'), unit: 'usd' as const } };
    expect(applyAnomalyPolicy('charge', reported, worstCase)).toBe(reported);
  });
});
