import type { Config } from '../config/config.js';
import type { Db } from '../db/database.js';
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

type Scoped = Exclude<MarkupScope, 'global'>;

/**
 * The markup rules, held in memory: most specific first, account > model > provider > global (the seed's
 * cost calculator applied one global markup; operators asked for per-customer and per-model ones).
 */
export class MarkupRules {
  private constructor(
    private readonly source: { db: Db } | undefined,
    private readonly config: Config,
    private rules: { scoped: Map<string, MarkupRule>; global: MarkupRule | undefined },
  ) {}

  /** Reads markup_rules once. @throws the database error. */
  static async load(database: { db: Db } | undefined, config: Config): Promise<MarkupRules> {
    const rules = new MarkupRules(database, config, { scoped: new Map(), global: undefined });
    await rules.reload();
    return rules;
  }

  /** Re-reads markup_rules and swaps them in. @throws the database error (the old rules stay). */
  async reload(): Promise<void> {
    const scoped = new Map<string, MarkupRule>();
    let global: MarkupRule | undefined;
    const rows = this.source ? await this.source.db.selectFrom('markup_rules').selectAll().orderBy('id', 'asc').execute() : [];
    // (scope, target) is unique in markup_rules, so each key is set once.
    for (const row of rows) {
      const rule = makeRule(row.scope, row.target, row.percent, row.fixed_fee, `${row.scope}:${row.target || 'rule'}`);
      if (row.scope === 'global') global = rule;
      else scoped.set(key(row.scope, row.target), rule);
    }
    const { percent, fixedFee } = this.config.markup;
    if (!global && (percent || fixedFee)) {
      global = {
        scope: 'global',
        target: '',
        percent: percent ?? Decimal.ZERO,
        fixedFee: fixedFee ?? Decimal.ZERO,
        name: 'global:config',
      };
    }
    this.rules = { scoped, global };
  }

  /** The most specific rule for a call, or undefined when none applies. */
  find(query: MarkupQuery): MarkupRule | undefined {
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
    const { scoped, global } = this.rules;
    return (
      scoped.get(key('account', query.accountId)) ??
      (query.modelId !== undefined ? scoped.get(key('model', query.modelId)) : undefined) ??
      (query.providerId !== undefined ? scoped.get(key('provider', query.providerId)) : undefined) ??
      global
    );
  }
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

function key(scope: Scoped, target: string): string {
  return `${scope}\u0000${target}`;
}
