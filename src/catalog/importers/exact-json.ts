import { isLosslessNumber, parse } from 'lossless-json';

/**
 * Parses JSON keeping every number as its original text (a LosslessNumber), so `9E-7` in a price file is
 * read as exactly 9E-7 and never passes through a binary float. Prices go through `parsePrice`; counts
 * (context windows, token limits) through `readInteger`.
 * @throws SyntaxError naming the position of malformed JSON.
 */
export function parseExactJson(text: string): unknown {
  return parse(text);
}

/** A non-negative integer field (token limits), or undefined when absent or not an integer. */
export function readInteger(value: unknown): number | undefined {
  const text = isLosslessNumber(value)
    ? value.value
    : typeof value === 'number' || typeof value === 'string'
      ? String(value)
      : undefined;
  if (text === undefined || !/^\d+(\.0+)?$/.test(text.trim())) return undefined;
  const number = Number.parseInt(text, 10);
  return Number.isSafeInteger(number) ? number : undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !isLosslessNumber(value);
}
