import type { Config } from '../config/config.js';
import type { Db } from '../db/database.js';
import { Decimal } from '../money/decimal.js';
import { findMarkup, makeRule, markupRuleKey, type MarkupQuery, type MarkupRule, type MarkupRuleSet } from '../pricing/markup.js';

/**
 * The markup rules of `markup_rules` (plus the configured global markup), held in memory and swapped whole on
 * reload; pricing/markup.ts decides which applies and what it adds, without touching the database.
 */
export class MarkupRules {
  private constructor(
    private readonly source: { db: Db } | undefined,
    private readonly config: Config,
    private rules: MarkupRuleSet,
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
      else scoped.set(markupRuleKey(row.scope, row.target), rule);
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
    return findMarkup(this.rules, query);
  }
}
