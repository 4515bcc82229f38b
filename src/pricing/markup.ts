import type { MarkupRulesTable } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import type { CostBreakdown } from './types.js';

export type MarkupScope = MarkupRulesTable['scope'];

/** A markup: a percentage of the provider cost and/or a fixed fee per call, both in USD terms. */
export interface MarkupRule {
  scope: MarkupScope;
  /** The account, model or provider id; '' for global. */
  target: string;
  /** Percent of the provider cost: 20 means +20%. */
  percent: Decimal;
  /** USD added per call. */
  fixedFee: Decimal;
  /** Where the rule came from, for the breakdown: `account:acme`, `model:gpt-4o`, `global:config`. */
  name: string;
}

export interface MarkupQuery {
  accountId: string;
  /** The account row's own override (accounts.markup_percent / markup_fixed_fee). */
  accountMarkup?: { percent?: Decimal | undefined; fixedFee?: Decimal | undefined };
  modelId: string | undefined;
  providerId: string | undefined;
}

/** Markup rules by scope, as loaded from the catalog (src/catalog/markup-rules.ts) or built in tests. */
export interface MarkupRuleSet {
  /** Account, model and provider rules, keyed by `markupRuleKey(scope, target)`. */
  scoped: ReadonlyMap<string, MarkupRule>;
  global: MarkupRule | undefined;
}

/**
 * The most specific rule for a call, or undefined when none applies: the account row's own override, then
 * account > model > provider > global (the seed's cost calculator applied one global markup; operators asked
 * for per-customer and per-model ones).
 */
export function findMarkup(rules: MarkupRuleSet, query: MarkupQuery): MarkupRule | undefined {
  const own = query.accountMarkup;
  if (own && (own.percent !== undefined || own.fixedFee !== undefined)) {
    return {
      scope: 'account',
      target: query.accountId,
      percent: own.percent ?? Decimal.ZERO,
      fixedFee: own.fixedFee ?? Decimal.ZERO,
      name: `account:${query.accountId}`,
    };
  }
  const { scoped, global } = rules;
  return (
    scoped.get(markupRuleKey('account', query.accountId)) ??
    (query.modelId !== undefined ? scoped.get(markupRuleKey('model', query.modelId)) : undefined) ??
    (query.providerId !== undefined ? scoped.get(markupRuleKey('provider', query.providerId)) : undefined) ??
    global
  );
}

/**
 * Adds the markup to a breakdown: percent of the provider cost plus the fixed fee, exactly (no rounding;
 * money is rounded only for display). Provider cost, markup and charge stay apart. No rule: charge = cost.
 */
export function applyMarkup(breakdown: CostBreakdown, rule: MarkupRule | undefined): CostBreakdown {
  if (!rule) return { ...breakdown, markup: undefined, charge: breakdown.providerCost };
  const amount = breakdown.providerCost.mul(rule.percent).shift(-2).add(rule.fixedFee);
  return {
    ...breakdown,
    markup: { percent: rule.percent, fixedFee: rule.fixedFee, amount, rule: rule.name },
    charge: breakdown.providerCost.add(amount),
  };
}

/** A rule from stored text; a missing part is zero. */
export function makeRule(
  scope: MarkupScope,
  target: string,
  percent: string | null | undefined,
  fixedFee: string | null | undefined,
  name: string,
): MarkupRule {
  return {
    scope,
    target,
    percent: percent ? Decimal.parse(percent) : Decimal.ZERO,
    fixedFee: fixedFee ? Decimal.parse(fixedFee) : Decimal.ZERO,
    name,
  };
}

/** The key of a scoped rule in `MarkupRuleSet.scoped`. */
export function markupRuleKey(scope: Exclude<MarkupScope, 'global'>, target: string): string {
  return `${scope}\u0000${target}`;
}
