import { Decimal } from '../money/decimal.js';
import { ROLLUP_MONEY_COLUMNS, ROLLUP_TOKEN_COLUMNS, type MoneyCounter, type TokenCounter } from './rollup-tables.js';

/**
 * What a report counts for a group of calls: calls, errors, tokens by kind (bigint: a sum of many calls'
 * tokens has no reason to stay under 2^53) and money (exact decimals, USD).
 */
export interface UsageCounters {
  calls: bigint;
  errors: bigint;
  tokens: Record<TokenCounter, bigint>;
  money: Record<MoneyCounter, Decimal>;
}

export const COUNTER_NAMES = ['calls', 'errors', ...ROLLUP_TOKEN_COLUMNS, ...ROLLUP_MONEY_COLUMNS] as const;

export function zeroCounters(): UsageCounters {
  return {
    calls: 0n,
    errors: 0n,
    tokens: Object.fromEntries(ROLLUP_TOKEN_COLUMNS.map((column) => [column, 0n])) as Record<TokenCounter, bigint>,
    money: Object.fromEntries(ROLLUP_MONEY_COLUMNS.map((column) => [column, Decimal.ZERO])) as Record<MoneyCounter, Decimal>,
  };
}

/** Counters from a database row whose counter columns are sums (NUMERIC text, or numbers for counts). */
export function countersFromRow(row: Record<string, unknown>): UsageCounters {
  const counters = zeroCounters();
  counters.calls = integer(row.calls);
  counters.errors = integer(row.errors);
  for (const column of ROLLUP_TOKEN_COLUMNS) counters.tokens[column] = integer(row[column]);
  for (const column of ROLLUP_MONEY_COLUMNS) counters.money[column] = Decimal.parse(String(row[column] ?? '0'));
  return counters;
}

/** `into` plus `other`, in place. */
export function addCounters(into: UsageCounters, other: UsageCounters): UsageCounters {
  into.calls += other.calls;
  into.errors += other.errors;
  for (const column of ROLLUP_TOKEN_COLUMNS) into.tokens[column] += other.tokens[column];
  for (const column of ROLLUP_MONEY_COLUMNS) into.money[column] = into.money[column].add(other.money[column]);
  return into;
}

/**
 * The JSON shape: counts as numbers while they are exact in a JSON number (below 2^53), as decimal strings
 * past that; money as exact decimal strings, always.
 */
export function countersJson(counters: UsageCounters): Record<(typeof COUNTER_NAMES)[number], number | string> {
  return {
    calls: jsonInteger(counters.calls),
    errors: jsonInteger(counters.errors),
    ...(Object.fromEntries(ROLLUP_TOKEN_COLUMNS.map((column) => [column, jsonInteger(counters.tokens[column])])) as Record<
      TokenCounter,
      number | string
    >),
    ...(Object.fromEntries(ROLLUP_MONEY_COLUMNS.map((column) => [column, counters.money[column].toString()])) as Record<
      MoneyCounter,
      string
    >),
  };
}

export function jsonInteger(value: bigint): number | string {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

function integer(value: unknown): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(value);
  // A NUMERIC sum of bigint columns arrives as text ("1234"); it is always whole.
  return BigInt(String(value));
}
