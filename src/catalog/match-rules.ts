import type { MatchRule } from '../pricing/types.js';

const LITERAL_KINDS = ['equals', 'starts_with', 'ends_with', 'contains', 'regex'] as const;

/**
 * Reads a declared name rule (genai-prices' `match`): exactly one of `equals`, `starts_with`, `ends_with`,
 * `contains`, `regex` (a string) or `or`, `and` (a non-empty list of rules).
 * @throws RangeError saying what is wrong, with the path inside the rule.
 */
export function readMatchRule(value: unknown, path = 'match'): MatchRule {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RangeError(`${path} is not an object`);
  const keys = Object.keys(value);
  if (keys.length !== 1) throw new RangeError(`${path} must have exactly one key, has ${keys.length}`);
  const key = keys[0]!;
  const inner = (value as Record<string, unknown>)[key];
  if (key === 'or' || key === 'and') {
    if (!Array.isArray(inner) || inner.length === 0) throw new RangeError(`${path}.${key} must be a non-empty list`);
    const rules = inner.map((rule: unknown, index) => readMatchRule(rule, `${path}.${key}[${index}]`));
    return key === 'or' ? { or: rules } : { and: rules };
  }
  if (!(LITERAL_KINDS as readonly string[]).includes(key)) throw new RangeError(`${path}: unknown rule "${key}"`);
  if (typeof inner !== 'string' || inner === '') throw new RangeError(`${path}.${key} must be a non-empty string`);
  if (key === 'regex') {
    try {
      new RegExp(inner);
    } catch {
      throw new RangeError(`${path}.regex ${JSON.stringify(inner)} is not a valid regular expression`);
    }
  }
  return { [key]: inner } as MatchRule;
}

/** True when `name` matches: case-insensitively as genai-prices compares, except a regex (tested as written). */
export function matchesRule(rule: MatchRule, name: string, lower = name.toLowerCase()): boolean {
  if ('or' in rule) return rule.or.some((inner) => matchesRule(inner, name, lower));
  if ('and' in rule) return rule.and.every((inner) => matchesRule(inner, name, lower));
  if ('equals' in rule) return lower === rule.equals.toLowerCase();
  if ('starts_with' in rule) return lower.startsWith(rule.starts_with.toLowerCase());
  if ('ends_with' in rule) return lower.endsWith(rule.ends_with.toLowerCase());
  if ('contains' in rule) return lower.includes(rule.contains.toLowerCase());
  return regexFor(rule.regex).test(name);
}

const REGEXES = new Map<string, RegExp>();
function regexFor(source: string): RegExp {
  let regex = REGEXES.get(source);
  if (!regex) REGEXES.set(source, (regex = new RegExp(source)));
  return regex;
}

/** The branches of a rule: the members of a top-level `or`, else the rule itself. */
export function ruleBranches(rule: MatchRule): MatchRule[] {
  return 'or' in rule ? rule.or.flatMap(ruleBranches) : [rule];
}

/**
 * How specific a branch is, to choose between two declared rules that both match a name: the length of the
 * literal text it requires (`starts_with gpt-4o-mini` beats `starts_with gpt-4o`); a regex counts as none.
 */
export function specificity(rule: MatchRule): number {
  if ('or' in rule) return Math.min(...rule.or.map(specificity));
  if ('and' in rule) return rule.and.reduce((total, inner) => total + specificity(inner), 0);
  if ('regex' in rule) return 0;
  return Object.values(rule)[0]!.length;
}

/** The rule as stored and shown: compact JSON, e.g. `{"equals":"o1-preview"}`. */
export function ruleText(rule: MatchRule): string {
  return JSON.stringify(rule);
}

/** An `or` of the names as `equals` rules (LiteLLM's and OpenRouter's canonical slugs); undefined for none. */
export function equalsRule(names: string[]): MatchRule | undefined {
  const unique = [...new Set(names.filter((name) => name !== ''))];
  if (unique.length === 0) return undefined;
  return unique.length === 1 ? { equals: unique[0]! } : { or: unique.map((name) => ({ equals: name })) };
}
