import { Decimal } from '../../../src/money/decimal.ts';

/**
 * Numbers for reading, exact to the last digit: every amount arrives as decimal text and is formatted as
 * text (digit grouping, a currency sign), through the gateway's own exact Decimal where arithmetic is
 * needed. No amount ever passes through a float here; charts alone plot floats, and their tooltips and
 * tables show the exact text.
 */

/** "12345.5" → "12,345.50"; "0.00002175" → "0.00002175" (never rounded: at least `minimumPlaces` decimals, all kept). */
export function groupDigits(text: string, minimumPlaces = 0): string {
  const normalized = Decimal.parse(text).toString();
  const negative = normalized.startsWith('-');
  const [whole = '0', fraction = ''] = (negative ? normalized.slice(1) : normalized).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const places = fraction.padEnd(minimumPlaces, '0');
  return `${negative ? '-' : ''}${grouped}${places ? `.${places}` : ''}`;
}

/** An amount in its unit: "$1,234.50", "-$0.00035", "120,000 tokens". */
export function formatAmount(text: string, unit: 'usd' | 'tokens' = 'usd'): string {
  if (unit === 'tokens') return `${groupDigits(text)} tokens`;
  const grouped = groupDigits(text, 2);
  return grouped.startsWith('-') ? `-$${grouped.slice(1)}` : `$${grouped}`;
}

/** A rate per token as USD per 1M tokens, exactly: "0.0000025" → "$2.50". */
export function formatPerMillion(perToken: string): string {
  return formatAmount(Decimal.parse(perToken).shift(6).toString());
}

/** A whole count with grouping: 1234567 → "1,234,567". */
export function formatCount(value: number | string): string {
  return groupDigits(String(value));
}

/** part / whole as a percentage with two decimals, computed on integers (half-up): (1, 3) → "33.33%". */
export function formatShare(part: number | string, whole: number | string): string {
  if (BigInt(whole) === 0n) return '–';
  const hundredths = (BigInt(part) * 100_000n) / BigInt(whole);
  const rounded = (hundredths + 5n) / 10n;
  const text = rounded.toString().padStart(3, '0');
  return `${text.slice(0, -2)}.${text.slice(-2)}%`;
}

export function compareAmounts(a: string, b: string): number {
  return Decimal.parse(a).cmp(Decimal.parse(b));
}

export function sumAmounts(values: Iterable<string>): string {
  return Decimal.sum([...values].map((value) => Decimal.parse(value))).toString();
}

export function negate(text: string): string {
  return Decimal.parse(text).neg().toString();
}

/** Checks a person's entry is an exact decimal the API will take ("10", "0.5"); the message says why not. */
export function amountProblem(text: string, options: { signed?: boolean } = {}): string | null {
  const pattern = options.signed ? /^-?[0-9]+(\.[0-9]+)?$/ : /^[0-9]+(\.[0-9]+)?$/;
  if (text.trim() === '') return 'enter an amount';
  if (!pattern.test(text.trim())) return options.signed ? 'a number such as 10, 0.50 or -2' : 'a number such as 10 or 0.50';
  return null;
}

/** For a chart's geometry only (bar heights): never shown, never summed. */
export function plotValue(text: string): number {
  return Number(text);
}
